package dataplane

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestBackendRefURLRewrite sends requests through rules whose backendRefs carry their own
// URLRewrite and checks what each backend received, on the fast path and on the general path
// (with both of its HTTP/1.1 clients): a backendRef's rewrite applies only when that
// backendRef is picked, after the rule's filters; its hostname replaces the rule's, its path
// modifier works on the path as the rule's rewrite left it, and the matched prefix is the
// rule's.
func TestBackendRefURLRewrite(t *testing.T) {
	a, b, c := startBackend(t, "a", false), startBackend(t, "b", false), startBackend(t, "c", false)
	rewrite := func(host string, p *config.PathModifier) []config.HTTPFilter {
		return []config.HTTPFilter{{URLRewrite: &config.URLRewrite{Hostname: host, Path: p}}}
	}
	prefix := func(s string) *config.PathModifier {
		return &config.PathModifier{Type: config.ReplacePrefixMatch, ReplacePrefixMatch: s}
	}
	full := func(s string) *config.PathModifier {
		return &config.PathModifier{Type: config.ReplaceFullPath, ReplaceFullPath: s}
	}
	fast, general := twoProxiesFor(t, func(port int) *config.Config {
		return &config.Config{
			Version: "1",
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{
				hroute("r", []string{"app.example.com"},
					// One rewrite per backendRef, none on the third; the rule's hostname
					// rewrite applies to all three.
					config.HTTPRouteRule{Matches: pathPrefix("/split"), Filters: rewrite("rule.internal", nil), BackendRefs: []config.BackendRef{
						{Backend: "a", Filters: rewrite("", prefix("/a-side"))},
						{Backend: "b", Filters: append(rewrite("b.internal", full("/b-full")),
							config.HTTPFilter{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "X-Ref", Value: "b"}}}})},
						{Backend: "c"},
					}},
					// The rule rewrites the path, the backendRef the hostname.
					config.HTTPRouteRule{Matches: pathPrefix("/layered"), Filters: rewrite("", prefix("/v2")), BackendRefs: []config.BackendRef{
						{Backend: "a", Filters: rewrite("a.internal", nil)},
					}},
					// Both rewrite the path: the backendRef's full path wins.
					config.HTTPRouteRule{Matches: pathPrefix("/override"), Filters: rewrite("rule.internal", full("/rule-full")), BackendRefs: []config.BackendRef{
						{Backend: "a", Filters: rewrite("", full("/ref-full"))},
					}},
					// Only the backendRef rewrites; "/" as the replaced prefix.
					config.HTTPRouteRule{Matches: pathPrefix("/only/"), BackendRefs: []config.BackendRef{
						{Backend: "b", Filters: rewrite("", prefix("/"))},
					}},
				),
			}})},
			Backends: []config.Backend{be("a", a.addr), be("b", b.addr), be("c", c.addr)},
		}
	})
	type want struct{ host, path, query, xref string }
	onVariants(fast, general, func(i, port int) {
		t.Run(variants[i], func(t *testing.T) {
			cl := noRedirect()
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			check := func(r response, w want) {
				t.Helper()
				h := http.Header(r.echo.Headers)
				if r.code != 200 || r.echo.Host != w.host || r.echo.Path != w.path || r.echo.Query != w.query || h.Get("X-Ref") != w.xref {
					t.Errorf("backend %q saw host %q path %q query %q X-Ref %q (status %d), want %+v", r.echo.Backend, r.echo.Host, r.echo.Path, r.echo.Query, h.Get("X-Ref"), r.code, w)
				}
				if h.Get("X-Forwarded-Host") != "app.example.com" {
					t.Errorf("X-Forwarded-Host %q, want the client's host", h.Get("X-Forwarded-Host"))
				}
			}
			split := map[string]want{
				"a": {"rule.internal", "/a-side/x/y", "q=1", ""},
				"b": {"b.internal", "/b-full", "q=1", "b"},
				"c": {"rule.internal", "/split/x/y", "q=1", ""},
			}
			seen := map[string]bool{}
			// The weights are equal: every backend turns up long before the bound
			// (missing one of them in 300 requests has odds of about 1 in 10^52).
			for n := 0; n < 300 && len(seen) < len(split); n++ {
				r := get(t, cl, base+"/split/x/y?q=1", "app.example.com")
				w, ok := split[r.echo.Backend]
				if !ok {
					t.Fatalf("unexpected answer: %+v", r)
				}
				check(r, w)
				seen[r.echo.Backend] = true
			}
			if len(seen) != len(split) {
				t.Errorf("backends seen: %v, want a, b and c", seen)
			}
			r := get(t, cl, base+"/layered/x", "app.example.com")
			check(r, want{"a.internal", "/v2/x", "", ""})
			r = get(t, cl, base+"/override/x?k=v", "app.example.com")
			check(r, want{"rule.internal", "/ref-full", "k=v", ""})
			r = get(t, cl, base+"/only/x", "app.example.com")
			check(r, want{"app.example.com", "/x", "", ""})
			r = get(t, cl, base+"/only", "app.example.com")
			check(r, want{"app.example.com", "/", "", ""})
		})
	})
}
