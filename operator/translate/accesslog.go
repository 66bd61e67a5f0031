package translate

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// frontendAccessLog maps frontend.accessLog onto an HTTP or HTTPS listener. The CEL
// expressions were type-checked by the policy's validation (the webhook's checks, with the
// proxy's CEL environment), so the proxy compiles them as they are.
func (t *translator) frontendAccessLog(l *listenerIR, st *polStatus, path string, v *agwv1a1.AccessLog) *config.AccessLog {
	if l.protocol != gwv1.HTTPProtocolType && l.protocol != gwv1.HTTPSProtocolType {
		st.note(path, "not applied to TCP, TLS and UDP listeners: they carry no HTTP requests")
		return nil
	}
	out := &config.AccessLog{Filter: string(deref(v.Filter, ""))}
	for _, a := range v.Attributes {
		out.Attributes = append(out.Attributes, config.AccessLogAttribute{Name: a.Name, Expression: string(a.Expression)})
	}
	return out
}
