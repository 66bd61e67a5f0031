package runtime

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func TestExtAuth(t *testing.T) {
	a := startBackend(t, "a", false)
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
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
	b, _ := io.ReadAll(resp.Body)
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
