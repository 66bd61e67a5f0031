package translate

import (
	"strings"

	"golang.org/x/net/http/httpguts"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// backendAuthKey is the Secret key holding the Authorization value of backend.auth.
const backendAuthKey = "Authorization"

// applyBackendAuth reads the Secret of a backend.auth policy field into the backend's
// config. A missing or unusable Secret makes the backend answer 500: sending the requests
// without the credentials the policy asks for would pass on the client's own, or none.
// Messages name the Secret, never its value.
func (t *translator) applyBackendAuth(be *backendIR, f mergedField, v *agwv1a1.BackendAuth) {
	p := f.src.pol
	st := t.policies.stat(p)
	if be.cfg.Protocol == config.BackendTCP {
		st.note(f.path, "not applied: a TCP backend carries no HTTP headers")
		return
	}
	name := p.Namespace + "/" + v.SecretRef.Name
	var why string
	s := t.ix.secrets[nsName{p.Namespace, v.SecretRef.Name}]
	value := ""
	if s != nil {
		value = strings.TrimSpace(string(s.Data[backendAuthKey]))
	}
	switch {
	case s == nil:
		why = "Secret " + name + " not found"
	case value == "":
		why = "Secret " + name + " has no " + backendAuthKey + " key"
	case !httpguts.ValidHeaderFieldValue(value):
		why = "Secret " + name + " key " + backendAuthKey + " is not a valid header value"
	}
	if why != "" {
		st.refErrors = append(st.refErrors, "backend.auth: "+why+"; requests to "+be.target.Kind+" "+be.target.Namespace+"/"+be.target.Name+" are answered with 500")
		be.invalid = "backend auth policy " + p.Namespace + "/" + p.Name + ": " + why
		return
	}
	be.cfg.Auth = &config.BackendAuth{Authorization: value}
}
