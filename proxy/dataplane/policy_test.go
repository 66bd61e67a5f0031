package dataplane

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/policy/localratelimit"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

func TestAuthorizationAndRateLimit(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	cfg := func(version string) *config.Config {
		return &config.Config{
			Version: version,
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
				config.HTTPRouteRule{Matches: pathPrefix("/allow"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					Authorization: &config.Authorization{Action: config.AuthorizationAllow, Rules: []string{`request.headers["x-role"] == "admin"`, `request.path.startsWith("/allow/public")`}},
				}},
				config.HTTPRouteRule{Matches: pathPrefix("/deny"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					Authorization: &config.Authorization{Action: config.AuthorizationDeny, Rules: []string{`request.method == "DELETE"`}},
				}},
				config.HTTPRouteRule{Matches: pathPrefix("/limited"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					RateLimit: &config.RateLimit{Local: []config.LocalRateLimit{{Requests: 3, Unit: config.RateLimitHour, Key: `request.headers["x-user"]`}}},
				}},
			)}})},
			Backends: []config.Backend{be("a", a.addr)},
		}
	}
	mustApply(t, rt, cfg("1"))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := http.DefaultClient
	check := func(method, path string, want int, hdr ...string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Error(err)
			return
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if r := do(t, c, req); r.code != want {
			t.Errorf("%s %s %v: got %d, want %d", method, path, hdr, r.code, want)
		}
	}
	check("GET", "/allow/x", 403)
	check("GET", "/allow/x", 200, "X-Role", "admin")
	check("GET", "/allow/public/x", 200)
	check("GET", "/deny", 200)
	check("DELETE", "/deny", 403)
	// 3 per hour per user: the fourth request of alice is refused, bob
	// has his own bucket.
	for i := 0; i < 3; i++ {
		check("GET", "/limited", 200, "X-User", "alice")
	}
	check("GET", "/limited", 429, "X-User", "alice")
	check("GET", "/limited", 200, "X-User", "bob")
	// A reload with the same limit keeps the buckets (no refill).
	mustApply(t, rt, cfg("2"))
	check("GET", "/limited", 429, "X-User", "alice")
}

func TestAuthenticationAndCSRF(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/key"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
				APIKeyAuthentication: &config.APIKeyAuthentication{Keys: []config.APIKey{{Name: "alice", Key: "k-alice", Metadata: map[string]string{"tier": "gold"}}}},
				Authorization:        &config.Authorization{Action: config.AuthorizationRequire, Rules: []string{`apiKey.metadata["tier"] == "gold"`}},
			}},
			config.HTTPRouteRule{Matches: pathPrefix("/basic"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
				BasicAuthentication: &config.BasicAuthentication{Htpasswd: "bob:" + string(hash) + "\n"},
			}},
			config.HTTPRouteRule{Matches: pathPrefix("/form"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
				CSRF: &config.CSRF{AdditionalOrigins: []string{"https://trusted.example.com"}},
			}},
		)}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	check := func(method, path string, want int, hdr ...string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Error(err)
			return
		}
		req.Host = "app.example.com"
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if r := do(t, http.DefaultClient, req); r.code != want {
			t.Errorf("%s %s %v: got %d, want %d", method, path, hdr, r.code, want)
		}
	}
	check("GET", "/key", 401)
	check("GET", "/key", 401, "Authorization", "Bearer wrong")
	check("GET", "/key", 200, "Authorization", "Bearer k-alice")
	check("GET", "/basic", 401)
	check("GET", "/basic", 401, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:nope")))
	for i := 0; i < 2; i++ { // the second hit is served from the verification cache
		check("GET", "/basic", 200, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:s3cret")))
	}
	check("POST", "/form", 403, "Origin", "https://evil.example.net")
	check("POST", "/form", 200, "Origin", "https://trusted.example.com")
	check("POST", "/form", 200, "Origin", "http://app.example.com")
	check("GET", "/form", 200, "Origin", "https://evil.example.net")
	check("POST", "/form", 200)
	// Secrets never show in dumps.
	js, err := config.Encode(rt.Current().Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "k-alice") || strings.Contains(string(js), "$2a$") {
		t.Errorf("secrets in redacted config")
	}
}

// TestRateLimitBucketPerRoute: one policy giving two routes the same limit (or a Gateway-level
// one reaching every route) must not make them share a bucket; rules of one route do.
func TestRateLimitBucketPerRoute(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	limit := func() *config.TrafficPolicy {
		return &config.TrafficPolicy{RateLimit: &config.RateLimit{Local: []config.LocalRateLimit{{Requests: 2, Unit: config.RateLimitHour}}}}
	}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{
			hroute("r1", []string{"one.example"},
				config.HTTPRouteRule{Matches: pathPrefix("/x"), BackendRefs: to("a"), Traffic: limit()},
				config.HTTPRouteRule{Matches: pathPrefix("/y"), BackendRefs: to("a"), Traffic: limit()}),
			hroute("r2", []string{"two.example"}, config.HTTPRouteRule{BackendRefs: to("a"), Traffic: limit()}),
		}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	check := func(host, path string, want int) response {
		t.Helper()
		req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		r := do(t, http.DefaultClient, req)
		if r.code != want {
			t.Errorf("GET %s%s: got %d, want %d", host, path, r.code, want)
		}
		return r
	}
	check("one.example", "/x", 200)
	check("one.example", "/y", 200) // same route, same bucket
	// 2 per hour: the next token is 30 minutes away, and Retry-After says so.
	if r := check("one.example", "/x", 429); r.header.Get("Retry-After") != "1800" {
		t.Errorf("Retry-After %q, want 1800", r.header.Get("Retry-After"))
	}
	check("two.example", "/", 200) // another route: its own bucket
	check("two.example", "/", 200)
	check("two.example", "/", 429)
}

// TestTrafficStepsInPhaseOrder compiles a traffic policy with every
// policy and checks the order enforce runs them in (package policy's
// phase table) and the response steps.
func TestTrafficStepsInPhaseOrder(t *testing.T) {
	backends, err := upstream.NewPool().Prepare([]config.Backend{be("authz", "127.0.0.1:1"), be("rls", "127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte("pw"))
	env := &buildEnv{backends: backends, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		limiters: localratelimit.NewSet().Stage(), authz: callout.NewConns().Stage()}
	t.Cleanup(env.authz.CloseAll)
	tp, err := buildTraffic(&config.TrafficPolicy{
		Transformation: &config.Transformation{
			Request:  &config.TransformationRules{Set: []config.HeaderTransformation{{Name: "x-a", Value: `"a"`}}},
			Response: &config.TransformationRules{Set: []config.HeaderTransformation{{Name: "x-b", Value: `"b"`}}},
		},
		RateLimit: &config.RateLimit{
			Local:  []config.LocalRateLimit{{Requests: 1}, {Requests: 2}},
			Global: &config.GlobalRateLimit{Backend: "rls", Domain: "d", Descriptors: []config.RateLimitDescriptor{{Entries: []config.RateLimitDescriptorEntry{{Key: "k", Value: `"v"`}}}}},
		},
		Authorization:        &config.Authorization{Action: config.AuthorizationRequire, Rules: []string{`true`}},
		ExtAuth:              &config.ExtAuth{Backend: "authz"},
		CSRF:                 &config.CSRF{},
		BasicAuthentication:  &config.BasicAuthentication{Htpasswd: "alice:{SHA}" + base64.StdEncoding.EncodeToString(sum[:])},
		APIKeyAuthentication: &config.APIKeyAuthentication{Keys: []config.APIKey{{Name: "k", Key: "secret"}}},
		JWTAuthentication:    &config.JWTAuthentication{Providers: []config.JWTProvider{{Name: "p", Issuer: "https://issuer", JWKS: config.JWKS{Inline: newSigner(t, "k1").jwks()}}}},
		BodyLimits:           &config.BodyLimits{Request: 10, Response: 10},
	}, env, "r")
	if err != nil {
		t.Fatal(err)
	}
	var steps, responses []string
	for _, s := range tp.steps {
		steps = append(steps, fmt.Sprintf("%s %T", s.Phase(), s))
	}
	for _, s := range tp.responses {
		responses = append(responses, fmt.Sprintf("%T", s))
	}
	want := []string{
		"Limits *bodylimit.Limits",
		"Authentication *jwtauth.Auth", "Authentication *apikey.Auth", "Authentication *basicauth.Auth",
		"CSRF *csrf.Policy",
		"ExtAuth *extauth.ExtAuth",
		"Authorization *authz.Rules",
		"RateLimit *localratelimit.Limiter", "RateLimit *localratelimit.Limiter", "RateLimit *globalratelimit.Limit",
		"Transform *transform.Transformation",
	}
	if !slices.Equal(steps, want) {
		t.Errorf("steps\n  %s\nwant\n  %s", strings.Join(steps, "\n  "), strings.Join(want, "\n  "))
	}
	if want := []string{"*bodylimit.Limits", "*transform.Transformation"}; !slices.Equal(responses, want) {
		t.Errorf("response steps %v, want %v", responses, want)
	}
}
