package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func translateDoc(t *testing.T, in string) *Result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	res := Translate(loadSnapshot(t, path))
	if len(res.Gateways) != 1 || res.Gateways[0].Config == nil {
		t.Fatalf("no config: %+v", res.Gateways)
	}
	if err := res.Gateways[0].Config.Validate(); err != nil {
		t.Fatalf("the proxy would reject the config: %v", err)
	}
	return res
}

func acceptedMessage(res *Result) string {
	for _, c := range res.Policies[0].Ancestors[0].Conditions {
		if c.Type == "Accepted" {
			return string(c.Status) + ": " + c.Message
		}
	}
	return ""
}

// TestBackendAuthTranslation: backend.auth reads the Secret's Authorization key into the
// backend's config; the value never reaches the EffectiveConfig view or the policy status;
// a missing Secret or key makes the backend answer 500 and says so in the status.
func TestBackendAuthTranslation(t *testing.T) {
	const policy = `policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: echo}]
    backend:
      auth: {secretRef: {name: token}}
`
	for _, tc := range []struct {
		name, secrets, wantAuth, wantStatus string
	}{
		{name: "secret", secrets: `secrets:
- metadata: {name: token, namespace: default}
  stringData: {Authorization: "Bearer s3cret-value\n"}
`, wantAuth: "Bearer s3cret-value", wantStatus: "True"},
		{name: "missing secret", wantStatus: "Secret default/token not found"},
		{name: "missing key", secrets: `secrets:
- metadata: {name: token, namespace: default}
  stringData: {token: s3cret-value}
`, wantStatus: "Secret default/token has no Authorization key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := translateDoc(t, trafficCheckBase+tc.secrets+policy)
			g := res.Gateways[0]
			var be *config.Backend
			for i := range g.Config.Backends {
				if g.Config.Backends[i].Name == "default/echo:80" {
					be = &g.Config.Backends[i]
				}
			}
			rule := g.Config.Binds[0].Listeners[0].HTTPRoutes[0].Rules[0]
			if acc := acceptedMessage(res); !strings.Contains(acc, tc.wantStatus) || strings.Contains(acc, "s3cret") {
				t.Errorf("policy Accepted = %q, want it to contain %q", acc, tc.wantStatus)
			}
			eff, err := json.Marshal(g.Effective)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(eff), "s3cret") {
				t.Errorf("the EffectiveConfig view holds the Secret value: %s", eff)
			}
			if tc.wantAuth == "" {
				if len(rule.BackendRefs) != 1 || rule.BackendRefs[0].Invalid == "" {
					t.Errorf("requests to the backend must answer 500: %+v", rule.BackendRefs)
				}
				return
			}
			if be == nil || be.Auth == nil || be.Auth.Authorization != tc.wantAuth {
				t.Fatalf("backend = %+v", be)
			}
			if len(rule.BackendRefs) != 1 || rule.BackendRefs[0].Invalid != "" {
				t.Errorf("backendRefs = %+v", rule.BackendRefs)
			}
		})
	}
}

// TestBodyLimitsTranslation: traffic.bodyLimits reaches the rules the policy targets.
func TestBodyLimitsTranslation(t *testing.T) {
	res := translateDoc(t, trafficCheckBase+`policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: guarded}]
    traffic:
      bodyLimits: {request: 1024}
`)
	rules := res.Gateways[0].Config.Binds[0].Listeners[0].HTTPRoutes[0].Rules
	if tp := rules[0].Traffic; tp == nil || tp.BodyLimits == nil || *tp.BodyLimits != (config.BodyLimits{Request: 1024}) {
		t.Errorf("guarded rule traffic = %+v", tp)
	}
	if rules[1].Traffic != nil {
		t.Errorf("the other rule got %+v", rules[1].Traffic)
	}
	if acc := acceptedMessage(res); !strings.HasPrefix(acc, "True") {
		t.Errorf("policy Accepted = %q", acc)
	}
}
