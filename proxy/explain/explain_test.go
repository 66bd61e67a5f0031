package explain_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
	"github.com/agentgateway/agentgateway-go/proxy/explain"
)

// signer issues ES256 tokens for an inline JWKS.
type signer struct {
	key *ecdsa.PrivateKey
	pub []byte // 0x04 || X || Y
}

func newSigner(t testing.TB) *signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: k, pub: pub}
}

func (s *signer) jwks() string {
	b := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","x":%q,"y":%q}]}`, b(s.pub[1:33]), b(s.pub[33:]))
}

func (s *signer) token(t testing.TB, claims map[string]any) string {
	enc := func(v any) string {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(js)
	}
	signed := enc(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"}) + "." + enc(claims)
	d := sha256.Sum256([]byte(signed))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

const issuer = "https://issuer.example.com"

// testConfig is one HTTP bind on port with two listeners, and on the
// wildcard one two routes: "canary" (header x-env: canary, with a JWT
// policy and a transformation adding x-user from the token's sub, plus an
// authorization rule) and "stable" (every path, no policy). Backends a and
// b are at addrA and addrB.
func testConfig(port int, jwks, addrA, addrB string) *config.Config {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &config.Config{
		Version: "test",
		Binds: []config.Bind{{
			Name: "http", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTP,
			Listeners: []config.Listener{
				{Name: "other", Hostname: "other.example.org", Protocol: config.ProtocolHTTP},
				{Name: "web", Hostname: "*.example.com", Protocol: config.ProtocolHTTP, HTTPRoutes: []config.HTTPRoute{
					{
						RouteMeta: config.RouteMeta{Namespace: "demo", Name: "canary", CreationTimestamp: t0.Add(time.Hour)},
						Rules: []config.HTTPRouteRule{{
							Matches: []config.HTTPRouteMatch{{
								Path:    &config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/api"},
								Headers: []config.HeaderMatch{{Name: "x-env", Value: "canary"}},
							}},
							Filters:     []config.HTTPFilter{{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-route", Value: "canary"}}}}},
							BackendRefs: []config.BackendRef{{Backend: "b"}},
							Timeouts:    &config.Timeouts{Request: &config.Duration{Duration: 5 * time.Second}},
							Traffic: &config.TrafficPolicy{
								JWTAuthentication: &config.JWTAuthentication{Providers: []config.JWTProvider{{Name: "demo", Issuer: issuer, JWKS: config.JWKS{Inline: jwks}}}},
								Transformation: &config.Transformation{Request: &config.TransformationRules{
									Set: []config.HeaderTransformation{{Name: "x-user", Value: "jwt.sub"}},
								}},
								Authorization: &config.Authorization{Action: config.AuthorizationAllow, Rules: []string{`jwt.sub != "mallory"`}},
							},
						}},
					},
					{
						RouteMeta: config.RouteMeta{Namespace: "demo", Name: "stable", CreationTimestamp: t0},
						Rules: []config.HTTPRouteRule{{
							BackendRefs: []config.BackendRef{{Backend: "a", Weight: ptr(3)}, {Invalid: "service demo/gone not found", Weight: ptr(1)}},
						}},
					},
				}},
			},
		}},
		Backends: []config.Backend{
			{Name: "a", Endpoints: []config.Endpoint{{Address: addrA}}},
			{Name: "b", Endpoints: []config.Endpoint{{Address: addrB, Zone: "z1"}}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func mustExplain(t *testing.T, c *config.Config, req explain.Request, opts explain.Options) *explain.Explanation {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ex, err := explain.Explain(c, req, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestExplainHeaderMatchAndPolicies(t *testing.T) {
	s := newSigner(t)
	c := testConfig(8080, s.jwks(), "10.0.0.1:80", "10.0.0.2:80")
	tok := s.token(t, map[string]any{"iss": issuer, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})

	// With the header and a token: route canary, every policy passes, the
	// transformation and the filter add their headers.
	ex := mustExplain(t, c, explain.Request{Host: "www.Example.com:8080", Path: "/api/../api/x?q=1",
		Header: http.Header{"X-Env": {"canary"}, "Authorization": {"Bearer " + tok}}}, explain.Options{})
	if ex.Listener != "web" || ex.Route == nil || ex.Route.Key != "demo/canary" || ex.Route.Rule != 0 {
		t.Fatalf("listener %q route %+v, want web demo/canary rule 0", ex.Listener, ex.Route)
	}
	if ex.Request.Path != "/api/x" || ex.Request.Host != "www.example.com" || ex.Request.Query != "q=1" {
		t.Errorf("request %+v: want the cleaned path and normalized host", ex.Request)
	}
	if ex.Outcome.Action != "proxy" || ex.Outcome.Status != 0 {
		t.Errorf("outcome %+v, want proxy", ex.Outcome)
	}
	var names []string
	for _, p := range ex.Policies {
		names = append(names, p.Name+"="+p.Verdict)
	}
	if got, want := strings.Join(names, " "), "jwtAuthentication=pass authorization=pass transformation=pass"; got != want {
		t.Errorf("policies %s, want %s (phase order)", got, want)
	}
	if r := ex.Policies[1].Rules; len(r) != 1 || r[0].Result != "true" {
		t.Errorf("authorization rules %+v, want one true", r)
	}
	up := map[string]string{}
	for _, h := range ex.Upstream.Headers {
		up[h.Name] = h.Op + " " + strings.Join(h.Value, ",")
	}
	if up["X-User"] != "set alice" || up["X-Route"] != "set canary" {
		t.Errorf("upstream headers %v, want X-User alice and X-Route canary", up)
	}
	if ex.Upstream.Path != "/api/x?q=1" || ex.Timeouts == nil || ex.Timeouts.Request != "5s" {
		t.Errorf("upstream %+v timeouts %+v", ex.Upstream, ex.Timeouts)
	}
	if len(ex.Backends) != 1 || ex.Backends[0].Backend != "b" || ex.Backends[0].Endpoints[0].Zone != "z1" {
		t.Errorf("backends %+v", ex.Backends)
	}
	// Both routes match; stable loses on precedence (canary has a header match).
	var results []string
	for _, cand := range ex.Candidates {
		results = append(results, cand.Route+":"+cand.Result)
	}
	if got, want := strings.Join(results, " "), "demo/canary:chosen demo/stable:lost on precedence"; got != want {
		t.Errorf("candidates %s, want %s", got, want)
	}

	// Without a token: 401 from the JWT policy; the later ones are not reached.
	ex = mustExplain(t, c, explain.Request{Host: "www.example.com", Path: "/api", Header: http.Header{"X-Env": {"canary"}}}, explain.Options{})
	if ex.Outcome.Status != http.StatusUnauthorized || ex.Outcome.By != "policy jwtAuthentication" || len(ex.Policies) != 3 ||
		ex.Policies[1].Verdict != explain.Skip || ex.Policies[2].Verdict != explain.Skip {
		t.Errorf("outcome %+v policies %+v, want 401 by the JWT policy, the others not reached", ex.Outcome, ex.Policies)
	}

	// An authorization rule that fails: 403.
	bad := s.token(t, map[string]any{"iss": issuer, "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()})
	ex = mustExplain(t, c, explain.Request{Host: "www.example.com", Path: "/api", Header: http.Header{"X-Env": {"canary"}, "Authorization": {"Bearer " + bad}}}, explain.Options{})
	if ex.Outcome.Status != http.StatusForbidden || ex.Policies[1].Rules[0].Result != "false" {
		t.Errorf("outcome %+v policies %+v, want 403 with the rule false", ex.Outcome, ex.Policies)
	}

	// Another header value: the header match fails, route stable; one
	// quarter of its requests get 500 (the invalid backendRef).
	ex = mustExplain(t, c, explain.Request{Host: "www.example.com", Path: "/api", Header: http.Header{"X-Env": {"prod"}}}, explain.Options{})
	if ex.Route == nil || ex.Route.Key != "demo/stable" || ex.Candidates[0].Result != "no match: header X-Env" {
		t.Errorf("route %+v candidates %+v, want stable, canary failing on X-Env", ex.Route, ex.Candidates)
	}
	if len(ex.Backends) != 2 || ex.Backends[0].Share != 75 || ex.Backends[1].Invalid == "" || len(ex.Policies) != 0 {
		t.Errorf("backends %+v policies %+v", ex.Backends, ex.Policies)
	}
}

func TestExplainListenersAndErrors(t *testing.T) {
	c := testConfig(8080, newSigner(t).jwks(), "10.0.0.1:80", "10.0.0.2:80")
	ex := mustExplain(t, c, explain.Request{Host: "nowhere.net", Path: "/"}, explain.Options{})
	if ex.Outcome.Status != http.StatusNotFound || ex.Outcome.By != "listener" || ex.Route != nil {
		t.Errorf("outcome %+v, want 404 from listener selection", ex.Outcome)
	}
	ex = mustExplain(t, c, explain.Request{Host: "other.example.org", Path: "/"}, explain.Options{})
	if ex.Listener != "other" || ex.Outcome.Status != http.StatusNotFound || ex.Outcome.By != "route" {
		t.Errorf("listener %q outcome %+v, want listener other and 404 no route", ex.Listener, ex.Outcome)
	}
	if !ex.Listeners[0].Chosen || ex.Listeners[1].Chosen {
		t.Errorf("listeners %+v", ex.Listeners)
	}
	if _, err := explain.Explain(c, explain.Request{Host: "a.example.com", Port: 9999}, explain.Options{}); err == nil {
		t.Error("no error for a port without a bind")
	}
	if _, err := explain.Explain(c, explain.Request{Host: "a.example.com", Path: "nope"}, explain.Options{}); err == nil {
		t.Error("no error for a path without /")
	}
}

// TestExplainCredentials checks that API keys are only checked with
// Options.Credentials, and that no key value reaches the answer.
func TestExplainCredentials(t *testing.T) {
	c := testConfig(8080, newSigner(t).jwks(), "10.0.0.1:80", "10.0.0.2:80")
	rule := &c.Binds[0].Listeners[1].HTTPRoutes[1].Rules[0]
	rule.Traffic = &config.TrafficPolicy{
		APIKeyAuthentication: &config.APIKeyAuthentication{Header: "x-api-key", Keys: []config.APIKey{{Name: "team-a", Key: "s3cret-key-value"}}},
		RateLimit:            &config.RateLimit{Local: []config.LocalRateLimit{{Requests: 1, Unit: config.RateLimitMinute, Key: `request.headers["x-api-key"]`}}},
		MCPAuthorization:     &config.Authorization{Action: config.AuthorizationAllow, Rules: []string{`mcp.tool.name == "echo"`}},
	}
	for _, cred := range []bool{false, true} {
		for _, key := range []string{"", "wrong", "s3cret-key-value"} {
			h := http.Header{}
			if key != "" {
				h.Set("X-Api-Key", key)
			}
			// Twice: a limit of one per minute would reject the second if explain took tokens.
			for range 2 {
				ex := mustExplain(t, c, explain.Request{Host: "a.example.com", Path: "/", Header: h}, explain.Options{Credentials: cred})
				js, err := json.Marshal(ex)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(js), "s3cret") && key == "" {
					t.Errorf("the key value is in the answer: %s", js)
				}
				want := map[string]string{"": "reject", "wrong": "unknown", "s3cret-key-value": "unknown"}[key]
				if cred {
					want = map[string]string{"": "reject", "wrong": "reject", "s3cret-key-value": "pass"}[key]
				}
				if got := ex.Policies[0].Verdict; got != want {
					t.Errorf("credentials %v key %q: verdict %s (%s), want %s", cred, key, got, ex.Policies[0].Detail, want)
				}
				if want == "pass" && (ex.Outcome.Action != "proxy" || ex.Policies[1].Verdict != "pass" || !strings.Contains(ex.Policies[1].Detail, `"s3cret-key-value"`)) {
					t.Errorf("outcome %+v rate limit %+v, want proxied and the bucket named", ex.Outcome, ex.Policies[1])
				}
				if want == "pass" && (len(ex.Policies) != 3 || ex.Policies[2].Name != "mcpAuthorization" || ex.Policies[2].Verdict != explain.Skip) {
					t.Errorf("policies %+v, want the MCP authorization listed last, not evaluated", ex.Policies)
				}
			}
		}
	}
}

// TestExplainHTTPSServerName checks the listener choice on an HTTPS bind: by SNI and Host,
// 421 when they belong to different listeners, as the data plane answers.
func TestExplainHTTPSServerName(t *testing.T) {
	leaf := testcerts.NewCA("ca").Issue("a.example.com", "b.example.com")
	tlsConf := &config.ListenerTLS{Certificates: []config.Certificate{{CertChain: leaf.CertPEM, PrivateKey: leaf.KeyPEM}}}
	route := config.HTTPRoute{RouteMeta: config.RouteMeta{Namespace: "ns", Name: "r"}, Rules: []config.HTTPRouteRule{{BackendRefs: []config.BackendRef{{Backend: "a"}}}}}
	c := &config.Config{
		Version: "tls",
		Binds: []config.Bind{{Name: "https", Port: 8443, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{
			{Name: "a", Hostname: "a.example.com", Protocol: config.ProtocolHTTPS, TLS: tlsConf, HTTPRoutes: []config.HTTPRoute{route}},
			{Name: "b", Hostname: "b.example.com", Protocol: config.ProtocolHTTPS, TLS: tlsConf, HTTPRoutes: []config.HTTPRoute{route}},
		}}},
		Backends: []config.Backend{{Name: "a", Endpoints: []config.Endpoint{{Address: "10.0.0.1:80"}}}},
	}
	for _, tc := range []struct {
		host, sni, listener string
		status              int
	}{
		{"b.example.com", "", "b", 0},
		{"a.example.com:8443", "a.example.com", "a", 0},
		{"b.example.com", "a.example.com", "", http.StatusMisdirectedRequest},
	} {
		ex := mustExplain(t, c, explain.Request{Host: tc.host, SNI: tc.sni}, explain.Options{})
		if ex.Listener != tc.listener || ex.Outcome.Status != tc.status || ex.Bind.Protocol != "HTTPS" {
			t.Errorf("host %s sni %q: listener %q outcome %+v, want listener %q status %d", tc.host, tc.sni, ex.Listener, ex.Outcome, tc.listener, tc.status)
		}
	}
}
