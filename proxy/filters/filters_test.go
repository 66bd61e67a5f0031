package filters

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func TestRewritePath(t *testing.T) {
	prefix := func(r string) *config.PathModifier {
		return &config.PathModifier{Type: config.ReplacePrefixMatch, ReplacePrefixMatch: r}
	}
	cases := []struct {
		m                  *config.PathModifier
		path, prefix, want string
	}{
		{prefix("/one"), "/prefix/one/two", "/prefix/one", "/one/two"},
		{prefix("/one"), "/prefix/one/", "/prefix/one", "/one/"},
		{prefix("/one"), "/prefix/one", "/prefix/one", "/one"},
		{prefix("/"), "/strip/three", "/strip", "/three"},
		{prefix("/"), "/strip", "/strip", "/"},
		{prefix("/"), "/strip/", "/strip", "/"},
		{prefix("/v2/"), "/api/x", "/api", "/v2/x"},
		{prefix("/v2"), "/x", "/", "/v2/x"},
		{&config.PathModifier{Type: config.ReplaceFullPath, ReplaceFullPath: "/full"}, "/a/b", "/a", "/full"},
		{nil, "/keep", "/", "/keep"},
	}
	for _, c := range cases {
		if got := RewritePath(c.m, c.path, c.prefix); got != c.want {
			t.Errorf("RewritePath(%+v, %q, %q) = %q, want %q", c.m, c.path, c.prefix, got, c.want)
		}
	}
}

func TestRedirectLocation(t *testing.T) {
	cases := []struct {
		c            config.RequestRedirect
		target, host string
		scheme       string
		listenerPort int
		want         string
		code         int
	}{
		{config.RequestRedirect{}, "/a?b=c", "ex.com", "http", 80, "http://ex.com/a?b=c", 302},
		{config.RequestRedirect{}, "/a", "ex.com", "http", 8080, "http://ex.com:8080/a", 302},
		{config.RequestRedirect{Scheme: "https"}, "/a", "ex.com", "http", 8080, "https://ex.com/a", 302},
		{config.RequestRedirect{Scheme: "https", Port: 8443, StatusCode: 301}, "/a", "ex.com", "http", 80, "https://ex.com:8443/a", 301},
		{config.RequestRedirect{Hostname: "other.com", Port: 80}, "/a", "ex.com", "http", 8080, "http://other.com/a", 302},
		{config.RequestRedirect{Path: &config.PathModifier{Type: config.ReplaceFullPath, ReplaceFullPath: "/n"}}, "/a/b", "ex.com", "https", 443, "https://ex.com/n", 302},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.target, nil)
		loc, code := NewRedirect(&c.c).Location(r, c.scheme, c.host, c.listenerPort, "/")
		if loc != c.want || code != c.code {
			t.Errorf("%+v: got %s %d, want %s %d", c.c, loc, code, c.want, c.code)
		}
	}
}

func TestHeaderModifierOrder(t *testing.T) {
	m := NewHeaderModifier(&config.HeaderModifier{
		Set:    []config.HTTPHeader{{Name: "x-set", Value: "s"}},
		Add:    []config.HTTPHeader{{Name: "x-add", Value: "a2"}},
		Remove: []string{"X-Gone"},
	})
	h := http.Header{"X-Set": {"old1", "old2"}, "X-Add": {"a1"}, "X-Gone": {"g"}}
	m.Apply(h)
	if got := h.Values("x-set"); len(got) != 1 || got[0] != "s" {
		t.Errorf("set: %v", got)
	}
	if got := h.Values("x-add"); len(got) != 2 || got[1] != "a2" {
		t.Errorf("add: %v", got)
	}
	if _, ok := h["X-Gone"]; ok {
		t.Error("remove did not remove")
	}
}

func TestCORS(t *testing.T) {
	c := NewCORS(&config.CORS{
		AllowOrigins: []string{"https://*.example.com", "http://exact.org"},
		AllowMethods: []string{"GET", "PUT"},
		AllowHeaders: []string{"x-a"},
		MaxAge:       60,
	})
	pre := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "PUT")
		w := httptest.NewRecorder()
		if !c.Preflight(w, r) {
			t.Fatal("preflight not handled")
		}
		return w
	}
	w := pre("https://a.b.example.com")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://a.b.example.com" || w.Header().Get("Access-Control-Allow-Methods") != "GET, PUT" || w.Header().Get("Access-Control-Max-Age") != "60" {
		t.Errorf("allowed preflight headers: %v", w.Header())
	}
	if w := pre("https://example.com"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("bare domain must not match the wildcard: %v", w.Header())
	}
	if w := pre("http://a.example.com"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("scheme must match: %v", w.Header())
	}
	h := http.Header{}
	c.Decorate(h, "http://exact.org")
	if h.Get("Access-Control-Allow-Origin") != "http://exact.org" {
		t.Errorf("decorate: %v", h)
	}
}

// TestCORSWildcardMethodsEcho follows the Gateway API conformance expectations:
// a wildcard method list echoes the requested method (a literal "*" does not
// work for credentialed requests), and a preflight carries the expose list.
func TestCORSWildcardMethodsEcho(t *testing.T) {
	for _, creds := range []bool{true, false} {
		c := NewCORS(&config.CORS{
			AllowOrigins:     []string{"*"},
			AllowMethods:     []string{"*"},
			ExposeHeaders:    []string{"x-e"},
			AllowCredentials: creds,
		})
		r := httptest.NewRequest("OPTIONS", "/", nil)
		r.Header.Set("Origin", "https://other.foo.com")
		r.Header.Set("Access-Control-Request-Method", "PUT")
		w := httptest.NewRecorder()
		if !c.Preflight(w, r) {
			t.Fatal("preflight not handled")
		}
		if got := w.Header().Get("Access-Control-Allow-Methods"); got != "PUT" {
			t.Errorf("credentials=%v: allow-methods %q, want the requested PUT", creds, got)
		}
		if got := w.Header().Get("Access-Control-Expose-Headers"); got != "x-e" {
			t.Errorf("credentials=%v: expose-headers %q on preflight", creds, got)
		}
		if got := w.Header().Get("Access-Control-Allow-Credentials"); (got == "true") != creds {
			t.Errorf("credentials=%v: allow-credentials %q", creds, got)
		}
	}
}
