package effectiveconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/explain"
)

// ExplainSubresource is the path of the explain subresource in the storage map.
const ExplainSubresource = Resource + "/explain"

// ConfigSource returns the proxy config the operator sends a Gateway's proxies, nil when it
// has none.
type ConfigSource func(namespace, name string) *config.Config

// ExplainREST serves effectiveconfigs/<gateway>/explain: what that Gateway's proxies do with
// the request described by the query (explain.ParseQuery), as JSON (explain.Explanation),
// computed from the config the operator sends them. Credentials the request carries are not
// checked (explain.Options.Credentials is off) and the answer holds no secret of the config.
type ExplainREST struct {
	Configs ConfigSource
}

var (
	_ rest.Storage   = &ExplainREST{}
	_ rest.Scoper    = &ExplainREST{}
	_ rest.Connecter = &ExplainREST{}
)

// New returns the parent resource's object.
func (*ExplainREST) New() runtime.Object { return &viewsv1a1.EffectiveConfig{} }

// Destroy has nothing to release.
func (*ExplainREST) Destroy() {}

// NamespaceScoped is true, as for the parent.
func (*ExplainREST) NamespaceScoped() bool { return true }

// ConnectMethods is GET only: explaining changes nothing.
func (*ExplainREST) ConnectMethods() []string { return []string{http.MethodGet} }

// NewConnectOptions has no options object: the handler reads the query itself.
func (*ExplainREST) NewConnectOptions() (runtime.Object, bool, string) { return nil, false, "" }

// Connect answers for the Gateway name in the request's namespace.
func (e *ExplainREST) Connect(ctx context.Context, name string, _ runtime.Object, r rest.Responder) (http.Handler, error) {
	ns, _ := genericapirequest.NamespaceFrom(ctx)
	c := e.Configs(ns, name)
	if c == nil {
		return nil, apierrors.NewNotFound(viewsv1a1.Resource(Resource), name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		in, err := explain.ParseQuery(req.URL.Query())
		if err != nil {
			r.Error(apierrors.NewBadRequest(err.Error()))
			return
		}
		ex, err := explain.Explain(c, in, explain.Options{})
		if err != nil {
			r.Error(apierrors.NewBadRequest(err.Error()))
			return
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ex); err != nil {
			r.Error(apierrors.NewInternalError(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b.Bytes())
	}), nil
}
