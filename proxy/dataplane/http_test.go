package dataplane

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func intp(i int) *int { return &i }

func TestHTTPRoutingAndFilters(t *testing.T) {
	a := startBackend(t, "a", false)
	b := startBackend(t, "b", false)
	port := freePort(t)
	rt := newRuntime(t)
	cfg := &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{
			Name: "web",
			HTTPRoutes: []config.HTTPRoute{
				hroute("main", []string{"app.example.com"},
					config.HTTPRouteRule{Matches: pathPrefix("/a"), BackendRefs: to("a"),
						Filters: []config.HTTPFilter{
							{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-set", Value: "yes"}}, Add: []config.HTTPHeader{{Name: "x-add", Value: "2"}}, Remove: []string{"x-drop"}}},
							{ResponseHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-resp", Value: "r"}}, Remove: []string{"x-backend"}}},
						}},
					config.HTTPRouteRule{Matches: pathPrefix("/b"), BackendRefs: to("b"),
						Filters: []config.HTTPFilter{{URLRewrite: &config.URLRewrite{Hostname: "rewritten.internal", Path: &config.PathModifier{Type: config.ReplacePrefixMatch, ReplacePrefixMatch: "/v2"}}}}},
					config.HTTPRouteRule{Matches: pathPrefix("/redirect"),
						Filters: []config.HTTPFilter{{RequestRedirect: &config.RequestRedirect{Scheme: "https", StatusCode: 301}}}},
					config.HTTPRouteRule{Matches: pathPrefix("/direct"),
						Filters: []config.HTTPFilter{{DirectResponse: &config.DirectResponse{StatusCode: 418, Body: "teapot"}}}},
					config.HTTPRouteRule{Matches: pathPrefix("/invalid"), BackendRefs: []config.BackendRef{{Invalid: "service not found"}}},
					config.HTTPRouteRule{Matches: pathPrefix("/none")},
					config.HTTPRouteRule{Matches: pathPrefix("/empty"), BackendRefs: to("empty")},
				),
			},
		})},
		Backends: []config.Backend{be("a", a.addr), be("b", b.addr), be("empty")},
	}
	mustApply(t, rt, cfg)
	c := noRedirect()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	r := get(t, c, base+"/a/x?q=1", "app.example.com", "X-Drop", "1", "X-Add", "1")
	if r.code != 200 || r.echo.Backend != "a" || r.echo.Path != "/a/x" || r.echo.Query != "q=1" {
		t.Fatalf("route a: %+v", r)
	}
	h := http.Header(r.echo.Headers)
	if h.Get("X-Set") != "yes" || len(h.Values("X-Add")) != 2 || h.Get("X-Drop") != "" {
		t.Errorf("request header filter: %v", h)
	}
	if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarded headers: %v", h)
	}
	if r.echo.Host != "app.example.com" {
		t.Errorf("host not preserved: %q", r.echo.Host)
	}
	if r.header.Get("X-Resp") != "r" || r.header.Get("X-Backend") != "" {
		t.Errorf("response header filter: %v", r.header)
	}

	r = get(t, c, base+"/b/items", "app.example.com")
	if r.echo.Backend != "b" || r.echo.Path != "/v2/items" || r.echo.Host != "rewritten.internal" {
		t.Errorf("rewrite: %+v", r.echo)
	}

	r = get(t, c, base+"/redirect/x?y=z", "app.example.com:1234")
	if r.code != 301 || r.header.Get("Location") != "https://app.example.com/redirect/x?y=z" {
		t.Errorf("redirect: %d %q", r.code, r.header.Get("Location"))
	}
	r = get(t, c, base+"/direct", "app.example.com")
	if r.code != 418 || r.body != "teapot" {
		t.Errorf("direct response: %d %q", r.code, r.body)
	}
	for _, p := range []string{"/invalid", "/none"} {
		if r = get(t, c, base+p, "app.example.com"); r.code != 500 {
			t.Errorf("%s: got %d, want 500", p, r.code)
		}
	}
	if r = get(t, c, base+"/empty", "app.example.com"); r.code != 503 {
		t.Errorf("backend without endpoints: got %d, want 503", r.code)
	}
	if r = get(t, c, base+"/a", "other.example.com"); r.code != 404 {
		t.Errorf("unknown host: got %d, want 404", r.code)
	}
	if r = get(t, c, base+"/zzz", "app.example.com"); r.code != 404 {
		t.Errorf("no matching rule: got %d, want 404", r.code)
	}
	// Hop-by-hop headers named in Connection are not forwarded.
	r = get(t, c, base+"/a", "app.example.com", "Connection", "X-Hop", "X-Hop", "secret")
	if http.Header(r.echo.Headers).Get("X-Hop") != "" {
		t.Errorf("hop-by-hop header forwarded: %v", r.echo.Headers)
	}
	if !strings.Contains(r.echo.Proto, "HTTP/1.1") {
		t.Errorf("backend proto %q", r.echo.Proto)
	}
}
