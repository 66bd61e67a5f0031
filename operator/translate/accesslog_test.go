package translate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestAccessLogTranslation: frontend.accessLog reaches the Gateway's HTTP listener with its
// filter and attributes as written.
func TestAccessLogTranslation(t *testing.T) {
	res := translateDoc(t, trafficCheckBase+`policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    frontend:
      accessLog:
        filter: 'response.code >= 400'
        attributes:
        - {name: user, expression: 'request.headers["x-user"]'}
        - {name: code, expression: response.code}
`)
	l := res.Gateways[0].Config.Binds[0].Listeners[0]
	want := &config.AccessLog{Filter: "response.code >= 400", Attributes: []config.AccessLogAttribute{
		{Name: "user", Expression: `request.headers["x-user"]`}, {Name: "code", Expression: "response.code"}}}
	if !reflect.DeepEqual(l.AccessLog, want) {
		t.Errorf("listener access log = %+v, want %+v", l.AccessLog, want)
	}
	if acc := acceptedMessage(res); !strings.HasPrefix(acc, "True") || strings.Contains(acc, "not") {
		t.Errorf("policy Accepted = %q", acc)
	}
}
