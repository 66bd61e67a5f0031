package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestPreRouting runs a listener's pre-routing filters over real sockets: two
// ext-auth services in order (the second sees the header the first added), a
// route chosen by a header the second one set, a denial answered before
// routing (a path without a route gets the denial, not 404), and a Host
// change that neither reaches the backend nor moves the request to another
// listener or route. HTTP/1.1 and h2c requests both take net/http's path
// (the fast path hands such listeners over).
func TestPreRouting(t *testing.T) {
	a := startBackend(t, "a", false)
	admin := startBackend(t, "admin", false)
	evil := startBackend(t, "evil", false)
	var calls1, calls2 atomic.Int64
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls1.Add(1)
		switch r.Header.Get("X-Token") {
		case "bad":
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "denied by first") //nolint:errcheck // the proxy relays what arrives
			return
		case "good":
			w.Header().Set("X-User", "alice")
		}
		// Tries to move the request to another host.
		w.Header().Set("Host", "evil.example")
	}))
	defer first.Close()
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls2.Add(1)
		if r.Header.Get("X-User") == "alice" {
			w.Header().Set("X-Role", "admin")
		}
	}))
	defer second.Close()
	port := freePort(t)
	rt := newRuntime(t)
	web := config.Listener{Name: "web",
		PreRouting: []config.ListenerFilter{
			{ExtAuth: &config.ExtAuth{Backend: "first", ForwardHeaders: []string{"X-Token"}, AllowedUpstreamHeaders: []string{"X-User", "Host"}, Require200: true}},
			{ExtAuth: &config.ExtAuth{Backend: "second", ForwardHeaders: []string{"X-User"}, AllowedUpstreamHeaders: []string{"X-Role"}, Require200: true}},
		},
		HTTPRoutes: []config.HTTPRoute{
			hroute("admin", nil, config.HTTPRouteRule{Matches: []config.HTTPRouteMatch{{
				Path: &config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/app"}, Headers: []config.HeaderMatch{{Name: "x-role", Value: "admin"}}}}, BackendRefs: to("admin")}),
			// Would win over "admin" (same specificity, name first) if the Host the
			// first service answered took effect.
			hroute("aa-host", nil, config.HTTPRouteRule{Matches: []config.HTTPRouteMatch{{
				Path: &config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/app"}, Headers: []config.HeaderMatch{{Name: "host", Value: "evil.example"}}}}, BackendRefs: to("evil")}),
			hroute("default", nil, config.HTTPRouteRule{Matches: pathPrefix("/app"), BackendRefs: to("a")}),
			hroute("evil-host", []string{"evil.example"}, config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("evil")}),
		}}
	evilListener := config.Listener{Name: "evil", Hostname: "evil.example", HTTPRoutes: []config.HTTPRoute{hroute("evil", nil, config.HTTPRouteRule{BackendRefs: to("evil")})}}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds:   []config.Bind{httpBind("http", port, web, evilListener)},
		Backends: []config.Backend{be("a", a.addr), be("admin", admin.addr), be("evil", evil.addr),
			be("first", first.Listener.Addr().String()), be("second", second.Listener.Addr().String())},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"http1", noRedirect()}, {"h2c", &http.Client{Transport: h2c, Timeout: 10 * time.Second}}} {
		t.Run(c.name, func(t *testing.T) {
			// The second service saw X-User from the first, set X-Role, and the route
			// matching on X-Role chose the admin backend; Host stayed the client's.
			r := get(t, c.client, base+"/app/x", "app.example", "X-Token", "good")
			h := http.Header(r.echo.Headers)
			if r.code != 200 || r.echo.Backend != "admin" || h.Get("X-User") != "alice" || h.Get("X-Role") != "admin" ||
				r.echo.Host != "app.example" || r.echo.Proto != "HTTP/1.1" {
				t.Errorf("good token: %d %+v", r.code, r.echo)
			}
			// Without identity the header-matching route does not apply.
			r = get(t, c.client, base+"/app/x", "app.example")
			if r.code != 200 || r.echo.Backend != "a" || r.echo.Host != "app.example" || http.Header(r.echo.Headers).Get("X-Role") != "" {
				t.Errorf("no token: %d %+v", r.code, r.echo)
			}
			// A denial is answered before routing: the second service is not asked and a
			// path no route serves gets the denial, not 404.
			before2 := calls2.Load()
			hits := a.hits.Load() + admin.hits.Load() + evil.hits.Load()
			for _, path := range []string{"/app/x", "/nowhere"} {
				r = get(t, c.client, base+path, "app.example", "X-Token", "bad")
				if r.code != 403 || r.body != "denied by first" {
					t.Errorf("bad token %s: %d %q", path, r.code, r.body)
				}
			}
			if calls2.Load() != before2 || a.hits.Load()+admin.hits.Load()+evil.hits.Load() != hits {
				t.Errorf("a denied request went on: second service %d -> %d calls, backends %d -> %d hits",
					before2, calls2.Load(), hits, a.hits.Load()+admin.hits.Load()+evil.hits.Load())
			}
			// An allowed request without a route is a 404 after the filters ran.
			before1 := calls1.Load()
			if r = get(t, c.client, base+"/nowhere", "app.example", "X-Token", "good"); r.code != 404 || calls1.Load() != before1+1 {
				t.Errorf("allowed, no route: %d, first service %d -> %d calls", r.code, before1, calls1.Load())
			}
			// The evil.example listener is served without the filters.
			before1 = calls1.Load()
			if r = get(t, c.client, base+"/app/x", "evil.example"); r.code != 200 || r.echo.Backend != "evil" || calls1.Load() != before1 {
				t.Errorf("other listener: %d %+v, first service %d -> %d calls", r.code, r.echo, before1, calls1.Load())
			}
		})
	}
}

// TestPreRoutingDirectResponse: a listener whose filter cannot be enforced
// answers every request with the configured response, route or not.
func TestPreRoutingDirectResponse(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web",
			PreRouting: []config.ListenerFilter{{DirectResponse: &config.DirectResponse{StatusCode: 500, Body: "closed"}}},
			HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{BackendRefs: to("a")})}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	for _, path := range []string{"/", "/x"} {
		r := get(t, noRedirect(), fmt.Sprintf("http://127.0.0.1:%d%s", port, path), "")
		if r.code != 500 || r.body != "closed" {
			t.Errorf("%s: %d %q", path, r.code, r.body)
		}
	}
	if a.hits.Load() != 0 {
		t.Errorf("backend reached %d times", a.hits.Load())
	}
}

// TestPreRoutingGRPC: an Envoy ext_authz gRPC service as a pre-routing
// filter. The header and query parameter its OK answer sets select the
// route; its attempts to change Host and :path have no effect; its denial
// is answered before routing.
func TestPreRoutingGRPC(t *testing.T) {
	a := startBackend(t, "a", false)
	admin := startBackend(t, "admin", false)
	authz := startAuthz(t)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web",
			PreRouting: []config.ListenerFilter{{ExtAuth: &config.ExtAuth{Backend: "authz", Protocol: config.ExtAuthGRPC}}},
			HTTPRoutes: []config.HTTPRoute{
				hroute("admin", nil, config.HTTPRouteRule{Matches: []config.HTTPRouteMatch{{
					Path:        &config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/app"},
					Headers:     []config.HeaderMatch{{Name: "x-user", Value: "alice"}},
					QueryParams: []config.QueryParamMatch{{Name: "added", Value: "1"}}}}, BackendRefs: to("admin")}),
				hroute("default", nil, config.HTTPRouteRule{Matches: pathPrefix("/app"), BackendRefs: to("a")}),
			}})},
		Backends: []config.Backend{be("a", a.addr), be("admin", admin.addr), func() config.Backend {
			b := be("authz", authz.addr)
			b.Protocol = config.BackendH2C
			return b
		}()},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := get(t, noRedirect(), base+"/app/x?drop=1", "app.example", "X-Case", "allow")
	if r.code != 200 || r.echo.Backend != "admin" || r.echo.Host != "app.example" || r.echo.Path != "/app/x" || r.echo.Query != "added=1" ||
		http.Header(r.echo.Headers).Get("X-User") != "alice" {
		t.Errorf("allowed: %d %+v", r.code, r.echo)
	}
	hits := a.hits.Load() + admin.hits.Load()
	for _, path := range []string{"/app/x", "/nowhere"} {
		if r = get(t, noRedirect(), base+path, "app.example", "X-Case", "deny"); r.code != 401 || r.body != "go away" {
			t.Errorf("denied %s: %d %q", path, r.code, r.body)
		}
	}
	if n := a.hits.Load() + admin.hits.Load(); n != hits {
		t.Errorf("denied requests reached a backend: %d -> %d hits", hits, n)
	}
}
