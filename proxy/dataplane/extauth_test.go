package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func TestExtAuth(t *testing.T) {
	a := startBackend(t, "a", false)
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		switch {
		case !strings.HasPrefix(r.URL.Path, "/check/ext"):
			w.WriteHeader(500)
		case r.Header.Get("X-Token") == "good":
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Internal", "not copied")
		case r.Header.Get("X-Token") == "browser":
			w.WriteHeader(401)
		case string(body) == "let me in":
			w.Header().Set("X-User", "body-user")
		default:
			w.Header().Set("X-Reason", "nope")
			w.WriteHeader(403)
			io.WriteString(w, "denied by policy")
		}
	}))
	defer authz.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/ext"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
				ExtAuth: &config.ExtAuth{Backend: "authz", PathPrefix: "/check", AllowedUpstreamHeaders: []string{"x-user"},
					IncludeBodyBytes: 64, SignInRedirectURL: "https://login.example.com/start"},
				Authorization: &config.Authorization{Action: config.AuthorizationRequire, Rules: []string{`extauthz.headers["x-user"] != ""`}},
			}},
			config.HTTPRouteRule{Matches: pathPrefix("/closed"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{ExtAuth: &config.ExtAuth{Backend: "dead"}}},
			config.HTTPRouteRule{Matches: pathPrefix("/open"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{ExtAuth: &config.ExtAuth{Backend: "dead", FailOpen: true}}},
		)}})},
		Backends: []config.Backend{be("a", a.addr), be("authz", authz.Listener.Addr().String()), be("dead", "127.0.0.1:1")},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := noRedirect()
	r := get(t, c, base+"/ext/x", "", "X-Token", "good")
	h := http.Header(r.echo.Headers)
	if r.code != 200 || h.Get("X-User") != "alice" || h.Get("X-Internal") != "" {
		t.Errorf("allowed: %d %v", r.code, h)
	}
	r = get(t, c, base+"/ext/x", "", "X-Token", "bad")
	if r.code != 403 || r.body != "denied by policy" || r.header.Get("X-Reason") != "nope" {
		t.Errorf("denied: %d %q %v", r.code, r.body, r.header)
	}
	r = get(t, c, base+"/ext/x?a=b", "app.example.com", "X-Token", "browser", "Accept", "text/html,application/xhtml+xml")
	if loc := r.header.Get("Location"); r.code != 302 || !strings.HasPrefix(loc, "https://login.example.com/start?rd=http%3A%2F%2Fapp.example.com%2Fext%2Fx%3Fa%3Db") {
		t.Errorf("sign-in redirect: %d %q", r.code, loc)
	}
	// An API client (no page load) gets the service's 401, not a redirect.
	if r := get(t, c, base+"/ext/x", "app.example.com", "X-Token", "browser", "Accept", "application/json"); r.code != 401 {
		t.Errorf("API client without credentials: %d %v", r.code, r.header)
	}
	if r := get(t, c, base+"/ext/x", "app.example.com", "X-Token", "browser", "Accept", "text/html", "Sec-Fetch-Mode", "cors"); r.code != 401 {
		t.Errorf("script fetch without credentials: %d %v", r.code, r.header)
	}
	// The service sees the body, and the backend still gets all of it.
	resp, err := http.Post(base+"/ext/body", "text/plain", strings.NewReader("let me in"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"body":"let me in"`) {
		t.Errorf("body check: %d %s", resp.StatusCode, b)
	}
	if r := get(t, c, base+"/closed", ""); r.code != 403 {
		t.Errorf("unreachable service, fail closed: %d", r.code)
	}
	if r := get(t, c, base+"/open", ""); r.code != 200 {
		t.Errorf("unreachable service, fail open: %d", r.code)
	}
}

func TestTransformation(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	headers := &config.Transformation{
		Request: &config.TransformationRules{
			Set:    []config.HeaderTransformation{{Name: "x-method-path", Value: `request.method + " " + request.path`}},
			Add:    []config.HeaderTransformation{{Name: "x-tag", Value: `"added"`}},
			Remove: []string{"x-secret"},
		},
		Response: &config.TransformationRules{
			When: `response.code == 200`,
			Set:  []config.HeaderTransformation{{Name: "x-code", Value: `string(response.code)`}},
		},
	}
	reqBody := &config.Transformation{Request: &config.TransformationRules{Body: `"wrapped(" + string(request.body) + ")"`}}
	respBody := &config.Transformation{Response: &config.TransformationRules{Body: `"backend sent " + string(size(response.body)) + " bytes"`}}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/tx"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{Transformation: headers}},
			config.HTTPRouteRule{Matches: pathPrefix("/reqbody"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{Transformation: reqBody}},
			config.HTTPRouteRule{Matches: pathPrefix("/respbody"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{Transformation: respBody}},
		)}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := get(t, http.DefaultClient, base+"/tx/a", "", "X-Secret", "s")
	h := http.Header(r.echo.Headers)
	if h.Get("X-Method-Path") != "GET /tx/a" || h.Get("X-Tag") != "added" || h.Get("X-Secret") != "" {
		t.Errorf("request headers: %v", h)
	}
	if r.header.Get("X-Code") != "200" {
		t.Errorf("response header: %v", r.header)
	}
	r = do(t, http.DefaultClient, mustReq(t, "POST", base+"/reqbody", "payload"))
	if r.echo.Body != "wrapped(payload)" {
		t.Errorf("request body: %q", r.echo.Body)
	}
	r = get(t, http.DefaultClient, base+"/respbody", "")
	if !strings.HasPrefix(r.body, "backend sent ") || r.body == "backend sent 0 bytes" {
		t.Errorf("response body: %q", r.body)
	}
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestExtAuthGatewayAPIFilter runs the HTTP ext-auth settings of a Gateway
// API ExternalAuth filter over real sockets: only Authorization and the
// allowed headers reach the service, with a correct Content-Length for the
// forwarded body; every answer header but the framing ones reaches the
// backend; only a 200 allows; a body longer than forwardBody.maxSize is
// refused with 413 without asking the service.
func TestExtAuthGatewayAPIFilter(t *testing.T) {
	a := startBackend(t, "a", false)
	seen := make(chan *http.Request, 16)
	var calls atomic.Int64
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		seen <- r
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Tenant", "from-authz")
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "ok")
		case "Bearer accepted":
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer authz.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{ExtAuth: &config.ExtAuth{
				Backend: "authz", PathPrefix: "/auth", ForwardHeaders: []string{"Authorization", "X-Tenant"}, AllUpstreamHeaders: true,
				Require200: true, IncludeBodyBytes: 8, RejectLargeBody: true}}},
		)}})},
		Backends: []config.Backend{be("a", a.addr), be("authz", authz.Listener.Addr().String())},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	post := func(path, body string, hdr ...string) response {
		req := mustReq(t, "POST", base+path, body)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return do(t, noRedirect(), req)
	}

	r := post("/api/items?x=1", `{"a":1}`, "Authorization", "Bearer good", "X-Tenant", "t1", "X-Other", "secret")
	if r.code != 200 {
		t.Fatalf("allowed: %d %s", r.code, r.body)
	}
	got := <-seen
	if got.URL.Path != "/auth/api/items" || got.URL.RawQuery != "x=1" || got.Method != "POST" || got.Host != "127.0.0.1:"+fmt.Sprint(port) {
		t.Errorf("check request: %s %s?%s host %s", got.Method, got.URL.Path, got.URL.RawQuery, got.Host)
	}
	if got.Header.Get("Authorization") != "Bearer good" || got.Header.Get("X-Tenant") != "t1" || got.Header.Get("X-Other") != "" || got.Header.Get("Content-Type") != "" {
		t.Errorf("service must see Authorization and the allowed headers only: %v", got.Header)
	}
	if b, err := io.ReadAll(got.Body); err != nil || string(b) != `{"a":1}` || got.ContentLength != 7 {
		t.Errorf("forwarded body %q (%v) with Content-Length %d", b, err, got.ContentLength)
	}
	h := http.Header(r.echo.Headers)
	if h.Get("X-User") != "alice" || h.Get("X-Tenant") != "from-authz" || h.Get("X-Other") != "secret" {
		t.Errorf("backend headers: %v", h)
	}
	if h.Get("Content-Type") != "application/json" || h.Get("Date") != "" || r.echo.Body != `{"a":1}` {
		t.Errorf("the answer's own headers must not replace the request's: %v body %q", h, r.echo.Body)
	}

	// No body: the service gets none, and no Content-Length but zero.
	if r := get(t, noRedirect(), base+"/x", "", "Authorization", "Bearer good"); r.code != 200 {
		t.Errorf("GET allowed: %d", r.code)
	}
	if got := <-seen; got.ContentLength != 0 {
		t.Errorf("check request without a body has Content-Length %d", got.ContentLength)
	}

	// A 2xx other than 200 is a denial, answered 403 (not relayed as a success).
	if r := post("/x", "", "Authorization", "Bearer accepted"); r.code != 403 {
		t.Errorf("202 from the service: %d, want 403", r.code)
	}
	<-seen
	if r := post("/x", "", "Authorization", "Bearer bad"); r.code != 401 {
		t.Errorf("401 from the service: %d", r.code)
	}
	<-seen

	before := calls.Load()
	if r := post("/x", "0123456789", "Authorization", "Bearer good"); r.code != 413 {
		t.Errorf("body over maxSize: %d, want 413", r.code)
	}
	// Without a Content-Length (chunked) the proxy reads one byte past the limit to know.
	req := mustReq(t, "POST", base+"/x", "")
	req.Body = io.NopCloser(strings.NewReader("0123456789"))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer good")
	if r := do(t, noRedirect(), req); r.code != 413 {
		t.Errorf("chunked body over maxSize: %d, want 413", r.code)
	}
	if calls.Load() != before {
		t.Errorf("the service was asked about a body it may not see in full")
	}
	if r := post("/x", "01234567", "Authorization", "Bearer good"); r.code != 200 || r.echo.Body != "01234567" {
		t.Errorf("body of exactly maxSize: %d %q", r.code, r.echo.Body)
	}
	<-seen
}
