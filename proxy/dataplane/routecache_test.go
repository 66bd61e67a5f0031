package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// ruleFor is the compiled rule the serving graph routes host/path to.
func ruleFor(t *testing.T, rt *Runtime, bind, host, path string) *ruleHandler {
	t.Helper()
	bs := rt.graph.Load().binds[bind]
	ls, ok := bs.listenerFor(host)
	if !ok {
		t.Fatalf("no listener for %s", host)
	}
	m, ok := ls.table.Route(httptest.NewRequest("GET", "http://"+host+path, nil), host)
	if !ok {
		t.Fatalf("no route for %s%s", host, path)
	}
	return m.Value
}

// TestRouteCacheReuse: a reload reuses the compiled rules of routes that did not change
// and rebuilds the ones that did, and those whose backend changed; rules with a traffic
// policy are always rebuilt. Every config is built anew, as decoding a push does.
func TestRouteCacheReuse(t *testing.T) {
	a, b := startBackend(t, "a", false), startBackend(t, "b", false)
	a.reqCh, b.reqCh = make(chan echo, 10), make(chan echo, 10)
	port := freePort(t)
	rt := newRuntime(t)
	setHeader := func(v string) []config.HTTPFilter {
		return []config.HTTPFilter{{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-route", Value: v}}}}}
	}
	mk := func(version, headerB string, extraEndpoint bool, extraRoute bool) *config.Config {
		routes := []config.HTTPRoute{
			hroute("a", []string{"a.example.com"}, config.HTTPRouteRule{Matches: pathPrefix("/a"), Filters: setHeader("a"), BackendRefs: to("a")}),
			hroute("b", []string{"b.example.com"}, config.HTTPRouteRule{Matches: pathPrefix("/b"), Filters: setHeader(headerB), BackendRefs: to("b")}),
			hroute("p", []string{"p.example.com"}, config.HTTPRouteRule{BackendRefs: to("a"),
				Traffic: &config.TrafficPolicy{CSRF: &config.CSRF{AdditionalOrigins: []string{"https://x.example.com"}}}}),
		}
		if extraRoute { // inserted first: every other route moves
			routes = append([]config.HTTPRoute{hroute("c", []string{"c.example.com"}, config.HTTPRouteRule{BackendRefs: to("b")})}, routes...)
		}
		ba := be("a", a.addr)
		if extraEndpoint {
			ba.Endpoints = append(ba.Endpoints, config.Endpoint{Address: a.addr, Weight: 2})
		}
		return &config.Config{Version: version, Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "l", HTTPRoutes: routes})},
			Backends: []config.Backend{ba, be("b", b.addr)}}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	check := func(host, path string, be *backend, want string) {
		t.Helper()
		if r := get(t, http.DefaultClient, url+path, host); r.code != 200 {
			t.Fatalf("%s%s: %d", host, path, r.code)
		}
		if got := (<-be.reqCh).Headers["X-Route"]; len(got) != 1 || got[0] != want {
			t.Fatalf("%s%s: backend saw x-route %q, want %q", host, path, got, want)
		}
	}
	rules := func() (ra, rb, rp *ruleHandler) {
		return ruleFor(t, rt, "http", "a.example.com", "/a"), ruleFor(t, rt, "http", "b.example.com", "/b"), ruleFor(t, rt, "http", "p.example.com", "/")
	}

	mustApply(t, rt, mk("1", "one", false, false))
	ra1, rb1, rp1 := rules()
	check("b.example.com", "/b", b, "one")

	// Route b changes; a does not; p has a traffic policy.
	mustApply(t, rt, mk("2", "two", false, false))
	ra2, rb2, rp2 := rules()
	if ra2 != ra1 {
		t.Error("unchanged route a was rebuilt")
	}
	if rb2 == rb1 {
		t.Error("changed route b was reused")
	}
	if rp2 == rp1 {
		t.Error("route p with a traffic policy was reused")
	}
	check("b.example.com", "/b", b, "two")
	check("a.example.com", "/a", a, "a")

	// Backend a changes (its endpoints): the rules sending to it are rebuilt.
	mustApply(t, rt, mk("3", "two", true, false))
	ra3, rb3, _ := rules()
	if ra3 == ra2 {
		t.Error("route a was reused although its backend changed")
	}
	if rb3 != rb2 {
		t.Error("unchanged route b was rebuilt")
	}
	check("a.example.com", "/a", a, "a")

	// A route inserted in front moves the others; they are still found and reused.
	mustApply(t, rt, mk("4", "two", true, true))
	ra4, rb4, _ := rules()
	if ra4 != ra3 || rb4 != rb3 {
		t.Error("unchanged routes rebuilt after another route was inserted")
	}
	if n := len(rt.routes.serving[listenerID{"http", "l"}]); n != 4 {
		t.Errorf("cache holds %d routes of the listener, want 4", n)
	}

	// A caller that modifies the config it applied and applies it again: the cache
	// compares with its own copy, so the change is seen.
	c := mk("5", "two", true, true)
	mustApply(t, rt, c)
	c.Binds[0].Listeners[0].HTTPRoutes[2].Rules[0].Filters[0].RequestHeaderModifier.Set[0].Value = "three"
	c.Version = "6"
	mustApply(t, rt, c)
	if _, rb6, _ := rules(); rb6 == rb4 {
		t.Error("route b modified in place was reused")
	}
	check("b.example.com", "/b", b, "three")
	check("a.example.com", "/a", a, "a")

	// A config that fails to apply leaves the cache as it was.
	bad := mk("7", "four", true, true)
	bad.Binds[0].Listeners[0].HTTPRoutes[2].Rules[0].BackendRefs = to("missing")
	if err := rt.Apply(bad); err == nil {
		t.Fatal("config with an unknown backend applied")
	}
	mustApply(t, rt, mk("8", "three", true, true))
	if ra8, _, _ := rules(); ra8 != ra4 {
		t.Error("route a rebuilt after a failed apply")
	}
	check("b.example.com", "/b", b, "three")
}

// TestApplyDeltaTrustsUnchanged: a config rebuilt from the serving one and a delta is told
// which routes the delta left alone, and those are not compared with the cache's copies.
// To see that, the test lies about a changed route: it keeps its old handler. With a base
// that is not the serving version the hint is ignored and every route is compared.
func TestApplyDeltaTrustsUnchanged(t *testing.T) {
	a := startBackend(t, "a", false)
	a.reqCh = make(chan echo, 10)
	port := freePort(t)
	rt := newRuntime(t)
	mk := func(version, headerA, headerB string) *config.Config {
		set := func(v string) []config.HTTPFilter {
			return []config.HTTPFilter{{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-route", Value: v}}}}}
		}
		routes := []config.HTTPRoute{
			hroute("a", []string{"a.example.com"}, config.HTTPRouteRule{Filters: set(headerA), BackendRefs: to("a")}),
			hroute("b", []string{"b.example.com"}, config.HTTPRouteRule{Filters: set(headerB), BackendRefs: to("a")}),
		}
		return &config.Config{Version: version, Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "l", HTTPRoutes: routes})},
			Backends: []config.Backend{be("a", a.addr)}}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	check := func(host, want string) {
		t.Helper()
		if r := get(t, http.DefaultClient, url+"/", host); r.code != 200 {
			t.Fatalf("%s: %d", host, r.code)
		}
		if got := (<-a.reqCh).Headers["X-Route"]; len(got) != 1 || got[0] != want {
			t.Fatalf("%s: backend saw x-route %q, want %q", host, got, want)
		}
	}
	onlyB := func(bind, listener, key string) bool {
		if bind != "http" || listener != "l" {
			t.Errorf("asked about a route on %s/%s", bind, listener)
		}
		return key != "default/b"
	}

	mustApply(t, rt, mk("1", "a1", "b1"))
	ra1 := ruleFor(t, rt, "http", "a.example.com", "/")
	// Both routes changed, the hint says only b did: a keeps its handler, b is rebuilt.
	if err := rt.ApplyDelta(mk("2", "a2", "b2"), "1", onlyB); err != nil {
		t.Fatal(err)
	}
	if ruleFor(t, rt, "http", "a.example.com", "/") != ra1 {
		t.Error("a route the delta left alone was compared and rebuilt")
	}
	check("a.example.com", "a1")
	check("b.example.com", "b2")
	// A delta from a version that is not serving: the hint is not used.
	if err := rt.ApplyDelta(mk("3", "a3", "b3"), "1", onlyB); err != nil {
		t.Fatal(err)
	}
	check("a.example.com", "a3")
	check("b.example.com", "b3")
}

// TestListenerTLSReuse: a reload keeps a listener's tls.Config (its parsed certificates)
// when the listener's TLS settings did not change, and builds a new one when they did.
func TestListenerTLSReuse(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("reuse-ca")
	first, second := ca.Issue("r.example.com"), ca.Issue("r.example.com")
	port := freePort(t)
	rt := newRuntime(t)
	mk := func(version string, leaf *testcerts.Leaf, path string) *config.Config {
		return &config.Config{
			Version: version,
			Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{{
				Name: "l", Protocol: config.ProtocolHTTPS, TLS: &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
				HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{Matches: pathPrefix(path), BackendRefs: to("a")})},
			}}}},
			Backends: []config.Backend{be("a", a.addr)},
		}
	}
	conf := func() any { return rt.graph.Load().binds["https"].first.tls }
	mustApply(t, rt, mk("1", first, "/"))
	c1 := conf()
	mustApply(t, rt, mk("2", first, "/x"))
	if conf() != c1 {
		t.Error("unchanged listener TLS rebuilt")
	}
	mustApply(t, rt, mk("3", second, "/x"))
	if conf() == c1 {
		t.Error("changed certificate not rebuilt")
	}
	if r := get(t, tlsClient(ca, port, false), "https://r.example.com/x", ""); r.code != 200 {
		t.Fatalf("https: %d", r.code)
	}
}

// TestPartialValidation: when only some routes are validated (the others are unchanged),
// Apply still rejects exactly what Validate rejects, with Validate's errors.
func TestPartialValidation(t *testing.T) {
	port := freePort(t)
	rt := newRuntime(t)
	mk := func(version string, edit func(c *config.Config)) *config.Config {
		var routes []config.HTTPRoute
		for i := range 5 {
			routes = append(routes, hroute(fmt.Sprint("r", i), []string{fmt.Sprintf("h%d.example.com", i)}, config.HTTPRouteRule{BackendRefs: to("a")}))
		}
		c := &config.Config{Version: version, Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "l", HTTPRoutes: routes})},
			Backends: []config.Backend{be("a", "127.0.0.1:1"), be("b", "127.0.0.1:2")}}
		if edit != nil {
			edit(c)
		}
		return c
	}
	mustApply(t, rt, mk("1", nil))
	routes := func(c *config.Config) *[]config.HTTPRoute { return &c.Binds[0].Listeners[0].HTTPRoutes }

	// Unchanged routes are not validated again, and a valid change applies.
	ok := mk("2", func(c *config.Config) { (*routes(c))[2].Rules[0].BackendRefs = to("b") })
	rt.mu.Lock()
	p := rt.routes.resolve(ok, nil)
	err := p.validate(ok)
	rt.mu.Unlock()
	if err != nil || !p.sameContext || p.reused != 4 {
		t.Fatalf("partial validation: err %v, partial %v, reused %d", err, p.sameContext, p.reused)
	}
	mustApply(t, rt, ok)

	for name, edit := range map[string]func(c *config.Config){
		"changed route invalid": func(c *config.Config) { (*routes(c))[1].Rules[0].BackendRefs = to("missing") },
		"new route invalid": func(c *config.Config) {
			*routes(c) = append(*routes(c), hroute("new", []string{"Bad_Host"}, config.HTTPRouteRule{BackendRefs: to("a")}))
		},
		"new route with a reused route's key": func(c *config.Config) {
			r := hroute("other", nil, config.HTTPRouteRule{BackendRefs: to("a")})
			r.Key = "default/r3"
			*routes(c) = append(*routes(c), r)
		},
		"route listed twice": func(c *config.Config) { *routes(c) = append(*routes(c), (*routes(c))[0]) },
		"route listed twice in a row": func(c *config.Config) {
			*routes(c) = append(append([]config.HTTPRoute{}, (*routes(c))[0]), *routes(c)...)
		},
		"backend of unchanged routes removed": func(c *config.Config) { c.Backends = c.Backends[1:] },
		"listener hostname of unchanged routes changed": func(c *config.Config) {
			c.Binds[0].Listeners[0].Hostname = "-invalid"
		},
	} {
		bad := mk("3", func(c *config.Config) {
			(*routes(c))[2].Rules[0].BackendRefs = to("b")
			edit(c)
		})
		want := bad.Validate()
		if want == nil {
			t.Fatalf("%s: test config is valid", name)
		}
		if err := rt.Apply(bad); err == nil || err.Error() != want.Error() {
			t.Errorf("%s: Apply error\n%v\nValidate error\n%v", name, err, want)
		}
		if v := rt.Current().Version; v != "2" {
			t.Fatalf("%s: serving %s", name, v)
		}
	}
	mustApply(t, rt, mk("4", nil))
}

// fillRandom sets v to random content; every field may be set.
func fillRandom(rnd *rand.Rand, v reflect.Value, depth int) {
	if depth > 10 {
		return
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(rnd.Int64N(4e9), 0).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprint(rnd.IntN(50)))
	case reflect.Bool:
		v.SetBool(rnd.IntN(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt(rnd.Int64N(100))
	case reflect.Pointer:
		if rnd.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			fillRandom(rnd, p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		switch rnd.IntN(4) {
		case 0:
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 1))
		default:
			n := 1 + rnd.IntN(2)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fillRandom(rnd, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		if rnd.IntN(2) == 0 {
			m := reflect.MakeMap(v.Type())
			for range 1 + rnd.IntN(2) {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fillRandom(rnd, k, depth+1)
				fillRandom(rnd, e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() && rnd.IntN(3) > 0 {
				fillRandom(rnd, v.Field(i), depth+1)
			}
		}
	}
}

// leaves lists the settable strings, bools and ints of v, and checks that nothing
// reachable from v through a pointer or a non-empty slice is also reachable from orig.
func leaves(t *testing.T, v, orig reflect.Value, out *[]reflect.Value) {
	switch v.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		if v.CanSet() {
			*out = append(*out, v)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			if v.Pointer() == orig.Pointer() {
				t.Fatalf("copy shares a %s", v.Type())
			}
			leaves(t, v.Elem(), orig.Elem(), out)
		}
	case reflect.Slice:
		if v.Len() > 0 && v.Pointer() == orig.Pointer() {
			t.Fatalf("copy shares a %s", v.Type())
		}
		for i := 0; i < v.Len(); i++ {
			leaves(t, v.Index(i), orig.Index(i), out)
		}
	case reflect.Map:
		if !v.IsNil() && v.UnsafePointer() == orig.UnsafePointer() {
			t.Fatalf("copy shares a %s", v.Type())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			leaves(t, v.Field(i), orig.Field(i), out)
		}
	}
}

// TestDeepValue: copies are deeply equal and share nothing mutable with the original;
// changing any field of a copy makes it unequal; equal values are reflect.DeepEqual.
func TestDeepValue(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		var r, other config.HTTPRoute
		fillRandom(rnd, reflect.ValueOf(&r).Elem(), 0)
		fillRandom(rnd, reflect.ValueOf(&other).Elem(), 0)
		c, ok := routeOps.clone(&r)
		if !ok {
			t.Fatal("route not copyable")
		}
		if !routeOps.equal(&r, &c) || !reflect.DeepEqual(r, c) {
			t.Fatalf("copy differs:\n%+v\n%+v", r, c)
		}
		if routeOps.equal(&r, &other) != reflect.DeepEqual(r, other) {
			t.Fatalf("equal disagrees with reflect.DeepEqual on\n%+v\n%+v", r, other)
		}
		var ls []reflect.Value
		leaves(t, reflect.ValueOf(&c).Elem(), reflect.ValueOf(&r).Elem(), &ls)
		if len(ls) == 0 {
			continue
		}
		// Change one leaf of the copy: no longer equal, and the original is untouched.
		before, _ := routeOps.clone(&r)
		l := ls[rnd.IntN(len(ls))]
		switch l.Kind() {
		case reflect.String:
			l.SetString(l.String() + "x")
		case reflect.Bool:
			l.SetBool(!l.Bool())
		default:
			l.SetInt(l.Int() + 1)
		}
		if routeOps.equal(&r, &c) {
			t.Fatalf("changed %s not seen", l.Type())
		}
		if !reflect.DeepEqual(r, before) {
			t.Fatal("changing the copy changed the original")
		}
	}
	// nil and empty slices differ, as for reflect.DeepEqual.
	x, y := config.HTTPRoute{}, config.HTTPRoute{Hostnames: []string{}}
	if routeOps.equal(&x, &y) {
		t.Error("nil and empty hostnames compare equal")
	}
	// A context with a struct of someone else's (unexported fields) is not copied.
	type foreign struct{ p unsafe.Pointer } //nolint:unused // the unexported field is what the test needs, never read
	var fp deepOps[struct{ F foreign }]
	if _, ok := fp.clone(&struct{ F foreign }{}); ok {
		t.Error("value with unexported fields copied")
	}
}

func BenchmarkRouteEqual(b *testing.B) {
	r := hroute("r", []string{"r.example.com"}, config.HTTPRouteRule{Matches: pathPrefix("/r"),
		Filters:     []config.HTTPFilter{{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x", Value: "1"}}}}},
		BackendRefs: to("a")})
	c, _ := routeOps.clone(&r)
	for b.Loop() {
		if !routeOps.equal(&r, &c) {
			b.Fatal("not equal")
		}
	}
}
