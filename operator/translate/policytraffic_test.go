package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

const trafficCheckBase = `
gatewayClasses:
- metadata: {name: agentgateway, generation: 1}
  spec: {controllerName: agentgateway.dev/agentgateway}
gateways:
- metadata: {name: gw, namespace: default, generation: 1}
  spec:
    gatewayClassName: agentgateway
    listeners:
    - {name: http, port: 80, protocol: HTTP}
services:
- metadata: {name: echo, namespace: default}
  spec:
    ports:
    - {name: http, port: 80, protocol: TCP}
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs:
    - {name: gw}
    rules:
    - name: guarded
      matches: [{path: {value: /guarded}}]
      backendRefs: [{name: echo, port: 80}]
    - name: open
      matches: [{path: {value: /open}}]
      backendRefs: [{name: echo, port: 80}]
`

// TestPolicyTrafficProxyChecks covers values that pass the CRD schema and the webhook but
// that the proxy would reject (config.Validate): they must break only the policy's rules
// (500, Accepted=False), never the Gateway's whole config, and never let requests through.
func TestPolicyTrafficProxyChecks(t *testing.T) {
	cases := []struct {
		name    string
		secrets string
		traffic string
		want    string // in the policy's Accepted message
	}{
		{
			name:    "symmetric JWKS",
			traffic: `jwtAuthentication: {providers: [{name: a, issuer: "https://a", jwks: {inline: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'}}]}`,
			want:    "traffic.jwtAuthentication.providers[0].jwks.inline: JWKS has no usable signing key",
		},
		{
			name: "API key shared by two clients",
			secrets: `
- metadata: {name: k1, namespace: default}
  stringData: {alice: same-key}
- metadata: {name: k2, namespace: default}
  stringData: {bob: same-key}`,
			traffic: `apiKeyAuthentication: {secretRefs: [{name: k1}, {name: k2}]}`,
			want:    "traffic.apiKeyAuthentication.keys[1].key: duplicate key",
		},
		{
			name: "empty API key",
			secrets: `
- metadata: {name: k1, namespace: default}
  stringData: {alice: ""}`,
			traffic: `apiKeyAuthentication: {secretRefs: [{name: k1}]}`,
			want:    "traffic.apiKeyAuthentication.keys[0]: name and key are required",
		},
		{
			name: "API key Secret without data",
			secrets: `
- metadata: {name: k1, namespace: default}`,
			traffic: `apiKeyAuthentication: {secretRefs: [{name: k1}]}`,
			want:    "Secret default/k1 has no data",
		},
		{
			name: "MD5 htpasswd",
			secrets: `
- metadata: {name: users, namespace: default}
  stringData: {.htpasswd: "alice:$apr1$abc$def"}`,
			traffic: `basicAuthentication: {secretRef: {name: users}}`,
			want:    "traffic.basicAuthentication.htpasswd: line 1 (user \"alice\"): unsupported hash",
		},
		{
			name:    "CSRF origin without scheme",
			traffic: `csrf: {additionalOrigins: [app.example.com]}`,
			want:    "traffic.csrf.additionalOrigins[0]: must be scheme://host[:port]",
		},
		{
			name:    "ext-auth Service not found",
			traffic: `extAuth: {protocol: HTTP, backendRef: {name: missing, port: 80}}`,
			want:    "traffic.extAuth: Service default/missing not found",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := trafficCheckBase
			if tc.secrets != "" {
				in += "secrets:" + tc.secrets + "\n"
			}
			in += `policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: guarded}]
    traffic:
      ` + tc.traffic + "\n"
			path := filepath.Join(t.TempDir(), "in.yaml")
			if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			res := Translate(loadSnapshot(t, path))
			g := res.Gateways[0]
			if g.Config == nil {
				t.Fatalf("the Gateway lost its whole config: %+v", g.Conditions)
			}
			if err := g.Config.Validate(); err != nil {
				t.Fatalf("invalid config: %v", err)
			}
			rules := g.Config.Binds[0].Listeners[0].HTTPRoutes[0].Rules
			if f := rules[0].Filters; len(f) != 1 || f[0].DirectResponse == nil || f[0].DirectResponse.StatusCode != 500 || rules[0].Traffic != nil || len(rules[0].BackendRefs) != 0 {
				t.Errorf("guarded rule must answer 500, got %+v", rules[0])
			}
			if len(rules[1].BackendRefs) != 1 || rules[1].Traffic != nil {
				t.Errorf("the other rule must be served unchanged, got %+v", rules[1])
			}
			if len(res.Policies) != 1 || len(res.Policies[0].Ancestors) != 1 {
				t.Fatalf("want one policy with one ancestor, got %+v", res.Policies)
			}
			var acc string
			for _, c := range res.Policies[0].Ancestors[0].Conditions {
				if c.Type == "Accepted" {
					if c.Status != "False" || c.Reason != "Invalid" {
						t.Errorf("Accepted = %s/%s, want False/Invalid", c.Status, c.Reason)
					}
					acc = c.Message
				}
			}
			if !strings.Contains(acc, tc.want) {
				t.Errorf("Accepted message %q lacks %q", acc, tc.want)
			}
		})
	}
}

// TestEffectiveConfigHasNoSecrets: the EffectiveConfig view shows a policy's Secret
// references, never the key values or htpasswd copied into the proxy config, and
// Config.Redacted removes them from a copy of the config.
func TestEffectiveConfigHasNoSecrets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string // copied from a Secret into the config
		ref    string // how the view names that Secret
	}{
		{"apikey-secret", "key-alice-0001", `{\"name\":\"team-a-keys\"}`},
		{"basic-auth-secret", "$2a$10$", `{\"name\":\"users\"}`},
	} {
		res := Translate(loadSnapshot(t, filepath.Join("testdata", "policies", tc.name+".in.yaml")))
		if len(res.Gateways) != 1 || res.Gateways[0].Config == nil || res.Gateways[0].Effective == nil {
			t.Fatalf("%s: want one Gateway with a config and an EffectiveConfig view, got %+v", tc.name, res.Gateways)
		}
		g := res.Gateways[0]
		view := mustJSON(t, g.Effective)
		if !strings.Contains(view, tc.ref) {
			t.Errorf("%s: effectiveconfig does not show the Secret reference %s", tc.name, tc.ref)
		}
		if strings.Contains(view, tc.secret) {
			t.Errorf("%s: effectiveconfig shows secret material %q", tc.name, tc.secret)
		}
		// The proxy needs the secret in its config; without it the redaction check below
		// would pass without redacting anything.
		if !strings.Contains(mustJSON(t, g.Config), tc.secret) {
			t.Fatalf("%s: the config does not carry %q", tc.name, tc.secret)
		}
		if red := mustJSON(t, g.Config.Redacted()); strings.Contains(red, tc.secret) {
			t.Errorf("%s: Redacted config still holds %q", tc.name, tc.secret)
		}
		if !strings.Contains(mustJSON(t, g.Config), tc.secret) {
			t.Errorf("%s: Redacted changed the config it copies", tc.name)
		}
	}
}

// mustJSON is v encoded as JSON.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExtAuthBackendTLS: the ext-auth service is a backend like any other, so a
// BackendTLSPolicy on its Service applies; an invalid one makes the rules using it answer
// 500 instead of sending credentials to the service in plaintext.
func TestExtAuthBackendTLS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		validation string
		wantTLS    bool
	}{
		{"valid", `{wellKnownCACertificates: System, hostname: authz.example.com}`, true},
		{"missing CA", `{caCertificateRefs: [{group: "", kind: ConfigMap, name: missing}], hostname: authz.example.com}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := trafficCheckBase + `
backendTLSPolicies:
- metadata: {name: authz-tls, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: authz}]
    validation: ` + tc.validation + `
policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: guarded}]
    traffic:
      extAuth: {protocol: HTTP, backendRef: {name: authz, port: 443}}
`
			in = strings.Replace(in, "httpRoutes:", `- metadata: {name: authz, namespace: default}
  spec:
    ports:
    - {name: https, port: 443, protocol: TCP}
httpRoutes:`, 1)
			path := filepath.Join(t.TempDir(), "in.yaml")
			if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			res := Translate(loadSnapshot(t, path))
			g := res.Gateways[0]
			if g.Config == nil {
				t.Fatalf("no config: %+v", g.Conditions)
			}
			rule := g.Config.Binds[0].Listeners[0].HTTPRoutes[0].Rules[0]
			if !tc.wantTLS {
				if rule.Traffic != nil || len(rule.Filters) != 1 || rule.Filters[0].DirectResponse == nil || rule.Filters[0].DirectResponse.StatusCode != 500 {
					t.Fatalf("rule must answer 500, got %+v", rule)
				}
				return
			}
			if rule.Traffic == nil || rule.Traffic.ExtAuth == nil {
				t.Fatalf("rule lacks ext-auth: %+v", rule)
			}
			for _, b := range g.Config.Backends {
				if b.Name == rule.Traffic.ExtAuth.Backend {
					if b.TLS == nil || b.TLS.SNI != "authz.example.com" {
						t.Errorf("ext-auth backend without the BackendTLSPolicy: %+v", b)
					}
					return
				}
			}
			t.Errorf("ext-auth backend %q not in config backends", rule.Traffic.ExtAuth.Backend)
		})
	}
}

// TestExtAuthGRPCMapping: gRPC ext-auth maps to a proxy ExtAuth with protocol GRPC on an
// h2c backend (the Service's own backend for GRPCRoutes), with its context extensions,
// failure mode, timeout and body size; a BackendTLSPolicy on the service, which the proxy
// cannot honour for gRPC ext-auth yet, makes the guarded rule answer 500 instead.
func TestExtAuthGRPCMapping(t *testing.T) {
	const authzService = `- metadata: {name: authz, namespace: default}
  spec:
    ports:
    - {name: grpc, port: 9000, protocol: TCP}
endpointSlices:
- metadata:
    name: authz-abc
    namespace: default
    labels: {kubernetes.io/service-name: authz}
  addressType: IPv4
  ports:
  - {name: grpc, port: 9001, protocol: TCP}
  endpoints:
    - addresses: [10.0.1.1]
      conditions: {ready: true}
httpRoutes:`
	const policy = `policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: guarded}]
    traffic:
      extAuth:
        protocol: GRPC
        backendRef: {name: authz, port: 9000}
        includeBodyBytes: 512
        failureMode: Open
        timeout: 250ms
        grpc: {contextExtensions: {app: web}}
`
	const tlsPolicy = `backendTLSPolicies:
- metadata: {name: authz-tls, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: authz}]
    validation: {wellKnownCACertificates: System, hostname: authz.example.com}
`
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"h2c", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(trafficCheckBase, "httpRoutes:", authzService, 1) + policy
			if tc.tls {
				in += tlsPolicy
			}
			path := filepath.Join(t.TempDir(), "in.yaml")
			if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			res := Translate(loadSnapshot(t, path))
			g := res.Gateways[0]
			if g.Config == nil {
				t.Fatalf("no config: %+v", g.Conditions)
			}
			if err := g.Config.Validate(); err != nil {
				t.Fatalf("the proxy would reject the config: %v", err)
			}
			rule := g.Config.Binds[0].Listeners[0].HTTPRoutes[0].Rules[0]
			var accepted string
			for _, c := range res.Policies[0].Ancestors[0].Conditions {
				if c.Type == "Accepted" {
					accepted = c.Message
				}
			}
			if rule.Traffic == nil || rule.Traffic.ExtAuth == nil {
				t.Fatalf("no ext auth on the guarded rule: %+v (policy: %q)", rule, accepted)
			}
			e := rule.Traffic.ExtAuth
			if e.Protocol != config.ExtAuthGRPC || e.Backend != "default/authz:9000+grpc" || e.ContextExtensions["app"] != "web" ||
				!e.FailOpen || e.IncludeBodyBytes != 512 || e.Timeout == nil || e.Timeout.Duration != 250*time.Millisecond ||
				e.PathPrefix != "" || e.ForwardHeaders != nil {
				t.Errorf("ext auth = %+v", e)
			}
			var be *config.Backend
			for i := range g.Config.Backends {
				if g.Config.Backends[i].Name == e.Backend {
					be = &g.Config.Backends[i]
				}
			}
			if be == nil || len(be.Endpoints) != 1 || be.Endpoints[0].Address != "10.0.1.1:9001" {
				t.Fatalf("ext auth backend = %+v", be)
			}
			// With a BackendTLSPolicy the service is reached over HTTP/2 with TLS.
			if tc.tls && (be.Protocol != config.BackendH2 || be.TLS == nil || be.TLS.SNI != "authz.example.com") ||
				!tc.tls && (be.Protocol != config.BackendH2C || be.TLS != nil) {
				t.Errorf("ext auth backend (tls %v) = %+v", tc.tls, be)
			}
			if strings.Contains(accepted, "cannot be enforced") {
				t.Errorf("policy status: %q", accepted)
			}
		})
	}
}
