package configdelta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// gateway is a config with two HTTP binds (two listeners on the first), a TCP bind, n
// routes spread over the HTTP listeners and a backend per route.
func gateway(n int) *config.Config {
	c := &config.Config{
		Binds: []config.Bind{
			{Name: "port-80", Port: 80, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{
				{Name: "http", Protocol: config.ProtocolHTTP},
				{Name: "api", Hostname: "api.example.com", Protocol: config.ProtocolHTTP},
			}},
			{Name: "port-81", Port: 81, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{{Name: "other", Protocol: config.ProtocolHTTP}}},
			{Name: "port-9000", Port: 9000, Protocol: config.ProtocolTCP, Listeners: []config.Listener{{Name: "tcp", Protocol: config.ProtocolTCP,
				L4Routes: []config.L4Route{{RouteMeta: config.RouteMeta{Namespace: "ns", Name: "tcp"}, BackendRefs: []config.BackendRef{{Backend: "be-0"}}}}}}},
		},
	}
	for i := range n {
		c.Backends = append(c.Backends, backend(i, "10.0.0.1"))
		l := &c.Binds[i%2].Listeners[(i/2)%len(c.Binds[i%2].Listeners)]
		l.HTTPRoutes = append(l.HTTPRoutes, route(i, fmt.Sprintf("be-%d", i)))
	}
	return c
}

func backend(i int, ip string) config.Backend {
	return config.Backend{Name: fmt.Sprintf("be-%d", i), Endpoints: []config.Endpoint{{Address: fmt.Sprintf("%s:%d", ip, 8080+i)}}}
}

func route(i int, be string) config.HTTPRoute {
	return config.HTTPRoute{
		RouteMeta: config.RouteMeta{Namespace: "ns", Name: fmt.Sprintf("r%d", i), CreationTimestamp: time.Unix(int64(1000+i), 0).UTC()},
		Hostnames: []string{fmt.Sprintf("%d.example.com", i)},
		Rules: []config.HTTPRouteRule{{
			Matches:     []config.HTTPRouteMatch{{Path: &config.PathMatch{Type: config.PathMatchPathPrefix, Value: fmt.Sprintf("/%d", i)}}},
			BackendRefs: []config.BackendRef{{Backend: be}},
		}},
	}
}

func mustEncode(t testing.TB, c *config.Config) *Encoded {
	t.Helper()
	e, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func routeJSON(t testing.TB, r *config.HTTPRoute) string {
	t.Helper()
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func fullJSON(t testing.TB, c *config.Config) string {
	t.Helper()
	cp := *c
	cp.Version = ""
	raw, err := json.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// roundTrip sends next to a proxy running base as a delta and checks that the proxy ends
// up with exactly next; it returns the delta's wire bytes.
func roundTrip(t *testing.T, base, next *config.Config) []byte {
	t.Helper()
	eb, en := mustEncode(t, base), mustEncode(t, next)
	running := *base
	running.Version = eb.Version
	wire := Diff(eb, en)
	var d Delta
	if err := json.Unmarshal(wire, &d); err != nil {
		t.Fatalf("delta does not decode: %v\n%s", err, wire)
	}
	got, err := Apply(&running, &d, en.Version)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, wire)
	}
	if got.Version != en.Version {
		t.Fatalf("version %q, want %q", got.Version, en.Version)
	}
	if g, w := fullJSON(t, got), fullJSON(t, next); g != w {
		t.Fatalf("rebuilt config differs from the full one\n got: %s\nwant: %s\ndelta: %s", g, w, wire)
	}
	// The rebuilt config hashes to the version it claims.
	if v := mustEncode(t, got).Version; v != en.Version {
		t.Fatalf("rebuilt config hashes to %s, want %s", v, en.Version)
	}
	// Unchanged names exactly the routes that are the base's as they were: a changed or
	// new route reported unchanged would keep a proxy on the old one.
	was := map[routeID]string{}
	for _, b := range base.Binds {
		for _, l := range b.Listeners {
			for i := range l.HTTPRoutes {
				was[routeID{b.Name, l.Name, l.HTTPRoutes[i].EffectiveKey()}] = routeJSON(t, &l.HTTPRoutes[i])
			}
		}
	}
	unchanged := d.Unchanged()
	for _, b := range got.Binds {
		for _, l := range b.Listeners {
			for i := range l.HTTPRoutes {
				id := routeID{b.Name, l.Name, l.HTTPRoutes[i].EffectiveKey()}
				old, ok := was[id]
				same := ok && old == routeJSON(t, &l.HTTPRoutes[i])
				if unchanged(id.bind, id.listener, id.key) != same {
					t.Fatalf("Unchanged(%s) = %v, but the route is the base's: %v\ndelta: %s", id, !same, same, wire)
				}
			}
		}
	}
	return wire
}

func TestVersionIsContentHash(t *testing.T) {
	a, b := gateway(5), gateway(5)
	a.Version, b.Version = "x", "y"
	if va, vb := mustEncode(t, a).Version, mustEncode(t, b).Version; va != vb {
		t.Fatalf("equal configs: %s and %s", va, vb)
	}
	for name, change := range map[string]func(*config.Config){
		"route":           func(c *config.Config) { c.Binds[0].Listeners[0].HTTPRoutes[0].Hostnames[0] = "x.example.com" },
		"route order":     func(c *config.Config) { rs := c.Binds[1].Listeners[0].HTTPRoutes; rs[0], rs[1] = rs[1], rs[0] },
		"backend":         func(c *config.Config) { c.Backends[2].Endpoints[0].Weight++ },
		"listener":        func(c *config.Config) { c.Binds[0].Listeners[1].Hostname = "other.example.com" },
		"route moved":     func(c *config.Config) { moveRoute(c, 0, 0, 1, 0) },
		"l4 route":        func(c *config.Config) { c.Binds[2].Listeners[0].L4Routes[0].BackendRefs[0].Backend = "be-1" },
		"backend removed": func(c *config.Config) { c.Backends = c.Backends[:4] },
	} {
		c := gateway(5)
		change(c)
		if mustEncode(t, c).Version == mustEncode(t, a).Version {
			t.Errorf("%s: the change kept the version", name)
		}
	}
}

// moveRoute moves the first route of listener (fb, fl) to the end of listener (tb, tl).
func moveRoute(c *config.Config, fb, fl, tb, tl int) {
	from := &c.Binds[fb].Listeners[fl]
	r := from.HTTPRoutes[0]
	from.HTTPRoutes = from.HTTPRoutes[1:]
	to := &c.Binds[tb].Listeners[tl]
	to.HTTPRoutes = append(to.HTTPRoutes, r)
}

func TestDeltaCarriesOnlyChanges(t *testing.T) {
	base := gateway(50)
	enc := func(c *config.Config) int { return mustEncode(t, c).Size() }
	full := enc(base)

	// One route's backend flips: one route, no binds, names or backends.
	next := gateway(50)
	next.Binds[0].Listeners[0].HTTPRoutes[3].Rules[0].BackendRefs[0].Backend = "be-1"
	wire := roundTrip(t, base, next)
	var d Delta
	if err := json.Unmarshal(wire, &d); err != nil {
		t.Fatal(err)
	}
	if d.Binds != nil || d.Names != nil || len(d.Routes) != 1 || d.Routes[0].Route.Name != next.Binds[0].Listeners[0].HTTPRoutes[3].Name || len(d.Backends) != 0 {
		t.Fatalf("flip delta: %s", wire)
	}
	if len(wire)*10 > full {
		t.Fatalf("flip delta is %d bytes of a %d-byte config", len(wire), full)
	}

	// An endpoint changes: one backend only.
	next = gateway(50)
	next.Backends[7] = backend(7, "10.0.0.2")
	wire = roundTrip(t, base, next)
	d = Delta{}
	if err := json.Unmarshal(wire, &d); err != nil {
		t.Fatal(err)
	}
	if d.Binds != nil || d.Names != nil || len(d.Routes) != 0 || len(d.Backends) != 1 || d.Backends[0].Name != "be-7" {
		t.Fatalf("endpoint delta: %s", wire)
	}

	// A route is added: the names, the route and its backend; the binds are unchanged.
	next = gateway(51)
	wire = roundTrip(t, base, next)
	d = Delta{}
	if err := json.Unmarshal(wire, &d); err != nil {
		t.Fatal(err)
	}
	if d.Binds != nil || d.Names == nil || len(d.Routes) != 1 || d.Routes[0].Route.Name != "r50" || len(d.Backends) != 1 {
		t.Fatalf("add delta: %s", wire)
	}

	// A listener changes: the binds only.
	next = gateway(50)
	next.Binds[0].Listeners[1].Hostname = "other.example.com"
	wire = roundTrip(t, base, next)
	d = Delta{}
	if err := json.Unmarshal(wire, &d); err != nil {
		t.Fatal(err)
	}
	if d.Binds == nil || d.Names != nil || len(d.Routes) != 0 || len(d.Backends) != 0 {
		t.Fatalf("listener delta: %s", wire)
	}

	// Nothing changed: an empty delta.
	if wire := roundTrip(t, base, gateway(50)); string(wire) != `{"base":"`+mustEncode(t, base).Version+`"}` {
		t.Fatalf("no-change delta: %s", wire)
	}
}

func TestDeltaRoundTrips(t *testing.T) {
	cases := map[string]func(c *config.Config){
		"route removed":      func(c *config.Config) { c.Binds[0].Listeners[0].HTTPRoutes = c.Binds[0].Listeners[0].HTTPRoutes[1:] },
		"all routes removed": func(c *config.Config) { c.Binds[0].Listeners[0].HTTPRoutes = nil },
		"routes reordered":   func(c *config.Config) { rs := c.Binds[1].Listeners[0].HTTPRoutes; rs[0], rs[2] = rs[2], rs[0] },
		"route moved":        func(c *config.Config) { moveRoute(c, 0, 0, 1, 0) },
		"listener added":     func(c *config.Config) { addListener(c, 1, "new", 3) },
		"listener removed":   func(c *config.Config) { c.Binds[0].Listeners = c.Binds[0].Listeners[:1] },
		"bind removed":       func(c *config.Config) { c.Binds = c.Binds[1:] },
		"bind added":         func(c *config.Config) { addBind(c) },
		"listener hostname":  func(c *config.Config) { c.Binds[0].Listeners[1].Hostname = "*.example.org" },
		"backend removed":    func(c *config.Config) { c.Backends = c.Backends[1:] },
		"backends reordered": func(c *config.Config) { c.Backends[0], c.Backends[3] = c.Backends[3], c.Backends[0] },
		"key set":            func(c *config.Config) { c.Binds[0].Listeners[0].HTTPRoutes[0].Key = "grpc/ns/r0" },
		"same route twice": func(c *config.Config) {
			addListener(c, 0, "dup", 0)
			c.Binds[0].Listeners[2].HTTPRoutes = c.Binds[0].Listeners[0].HTTPRoutes[:2]
		},
		"everything emptied":   func(c *config.Config) { *c = config.Config{} },
		"l4 route changed":     func(c *config.Config) { c.Binds[2].Listeners[0].L4Routes[0].BackendRefs[0].Backend = "be-1" },
		"route and its rename": func(c *config.Config) { c.Binds[0].Listeners[0].HTTPRoutes[0].Name = "renamed" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			next := gateway(12)
			change(next)
			roundTrip(t, gateway(12), next)
			// And back again.
			roundTrip(t, next, gateway(12))
		})
	}
	// From nothing to a realistic config with every feature, and back.
	raw, err := os.ReadFile("../config/testdata/valid-full.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	full, err := config.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, &config.Config{}, full)
	roundTrip(t, full, &config.Config{})
	roundTrip(t, gateway(3), full)
}

func addListener(c *config.Config, bind int, name string, routes int) {
	l := config.Listener{Name: name, Hostname: name + ".example.com", Protocol: config.ProtocolHTTP}
	for i := range routes {
		l.HTTPRoutes = append(l.HTTPRoutes, route(100+i, "be-0"))
	}
	c.Binds[bind].Listeners = append(c.Binds[bind].Listeners, l)
}

func addBind(c *config.Config) {
	c.Binds = append(c.Binds, config.Bind{Name: "port-82", Port: 82, Protocol: config.ProtocolHTTP,
		Listeners: []config.Listener{{Name: "x", Protocol: config.ProtocolHTTP, HTTPRoutes: []config.HTTPRoute{route(200, "be-1")}}}})
}

// TestRandomChanges chains random edits, sending each version as a delta from the one
// before, as a proxy receives them.
func TestRandomChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cur := gateway(20)
	next := 1000
	for step := range 300 {
		nc := clone(t, cur)
		for range 1 + rng.IntN(3) {
			switch rng.IntN(7) {
			case 0: // add a route
				b := rng.IntN(2)
				l := &nc.Binds[b].Listeners[rng.IntN(len(nc.Binds[b].Listeners))]
				l.HTTPRoutes = append(l.HTTPRoutes, route(next, "be-0"))
				next++
			case 1: // remove a route
				b := rng.IntN(2)
				l := &nc.Binds[b].Listeners[rng.IntN(len(nc.Binds[b].Listeners))]
				if n := len(l.HTTPRoutes); n > 0 {
					i := rng.IntN(n)
					l.HTTPRoutes = append(l.HTTPRoutes[:i], l.HTTPRoutes[i+1:]...)
				}
			case 2: // change a route
				b := rng.IntN(2)
				l := &nc.Binds[b].Listeners[rng.IntN(len(nc.Binds[b].Listeners))]
				if n := len(l.HTTPRoutes); n > 0 {
					l.HTTPRoutes[rng.IntN(n)].Rules[0].BackendRefs[0].Backend = fmt.Sprintf("be-%d", rng.IntN(5))
				}
			case 3: // add a backend
				nc.Backends = append(nc.Backends, backend(next, "10.0.0.9"))
				next++
			case 4: // remove a backend
				if n := len(nc.Backends); n > 0 {
					i := rng.IntN(n)
					nc.Backends = append(nc.Backends[:i], nc.Backends[i+1:]...)
				}
			case 5: // change an endpoint
				if n := len(nc.Backends); n > 0 {
					nc.Backends[rng.IntN(n)].Endpoints[0].Address = fmt.Sprintf("10.1.0.%d", rng.IntN(250))
				}
			case 6: // swap two routes
				l := &nc.Binds[0].Listeners[0]
				if n := len(l.HTTPRoutes); n > 1 {
					i, j := rng.IntN(n), rng.IntN(n)
					l.HTTPRoutes[i], l.HTTPRoutes[j] = l.HTTPRoutes[j], l.HTTPRoutes[i]
				}
			}
		}
		t.Run(fmt.Sprint(step), func(t *testing.T) { roundTrip(t, cur, nc) })
		if t.Failed() {
			return
		}
		cur = nc
	}
}

func clone(t *testing.T, c *config.Config) *config.Config {
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out config.Config
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestApplyRefusesWhatItCannotRebuild(t *testing.T) {
	base := gateway(4)
	eb := mustEncode(t, base)
	base.Version = eb.Version
	en := mustEncode(t, gateway(5))
	var good Delta
	if err := json.Unmarshal(Diff(eb, en), &good); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		base *config.Config
		d    func() *Delta
		want string
	}{
		"no config yet": {nil, func() *Delta { return &good }, "before any config"},
		"other base": {base, func() *Delta {
			d := good
			d.Base = "0123"
			return &d
		}, "applies to version 0123"},
		"route missing": {base, func() *Delta {
			d := good
			d.Routes = nil
			return &d
		}, "route port-80/http/ns/r4 is neither in the delta nor in version"},
		"backend missing": {base, func() *Delta {
			d := good
			d.Backends = nil
			return &d
		}, "backend be-4 is neither in the delta nor in version"},
		"route not in names": {base, func() *Delta {
			d := good
			d.Routes = append([]Route{{Bind: "port-80", Listener: "nope", Route: route(9, "be-0")}}, d.Routes...)
			return &d
		}, "1 routes that its names do not list"},
		"route twice": {base, func() *Delta {
			d := good
			d.Routes = append(d.Routes, d.Routes...)
			return &d
		}, "is in the delta twice"},
		"bad names": {base, func() *Delta {
			d := good
			names := *d.Names
			names.RouteKeys = names.RouteKeys[:1]
			d.Names = &names
			return &d
		}, "3 binds but route keys for 1"},
		"names of other binds": {base, func() *Delta {
			d := good
			d.Binds = &Binds{Binds: bindsOf(base).Binds[:2]}
			return &d
		}, "2 binds but route keys for 3"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Apply(tc.base, tc.d(), en.Version)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Apply(base, &good, en.Version); err != nil {
		t.Fatalf("the unaltered delta: %v", err)
	}
}

func TestEncodeRefusesDuplicateNames(t *testing.T) {
	c := gateway(3)
	c.Backends = append(c.Backends, c.Backends[0])
	if _, err := Encode(c); err == nil || !strings.Contains(err.Error(), `duplicate backend name "be-0"`) {
		t.Fatalf("duplicate backend: %v", err)
	}
	c = gateway(3)
	l := &c.Binds[0].Listeners[0]
	l.HTTPRoutes = append(l.HTTPRoutes, l.HTTPRoutes[0])
	if _, err := Encode(c); err == nil || !strings.Contains(err.Error(), `duplicate HTTP route key "ns/r0" on listener port-80/http`) {
		t.Fatalf("duplicate route: %v", err)
	}
}

// The base is not modified by Apply, and the result shares nothing Apply wrote into with it.
func TestApplyLeavesBaseAlone(t *testing.T) {
	base := gateway(6)
	eb := mustEncode(t, base)
	base.Version = eb.Version
	before := fullJSON(t, base)
	next := gateway(7)
	next.Binds[0].Listeners[0].HTTPRoutes[0].Hostnames = []string{"changed.example.com"}
	var d Delta
	if err := json.Unmarshal(Diff(eb, mustEncode(t, next)), &d); err != nil {
		t.Fatal(err)
	}
	got, err := Apply(base, &d, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if after := fullJSON(t, base); after != before {
		t.Fatal("Apply modified the base")
	}
	got.Binds[0].Listeners[0].HTTPRoutes = nil
	got.Backends = nil
	if after := fullJSON(t, base); after != before {
		t.Fatal("the result shares its slices with the base")
	}
}

func TestDiffIsValidJSON(t *testing.T) {
	a, b := mustEncode(t, gateway(3)), mustEncode(t, gateway(8))
	for _, wire := range [][]byte{Diff(a, b), Diff(b, a), Diff(a, a)} {
		if !json.Valid(wire) {
			t.Fatalf("invalid JSON: %s", wire)
		}
		dec := json.NewDecoder(bytes.NewReader(wire))
		dec.DisallowUnknownFields()
		var d Delta
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("strict decode: %v", err)
		}
	}
}

// EncodeReusing gives Encode's result and takes the pieces of routes whose fingerprint is
// unchanged from the previous version.
func TestEncodeReusing(t *testing.T) {
	// fp fingerprints the routes of c by their tag (none when untagged).
	fp := func(c *config.Config, tag map[string]string) func(bi, li, ri int) Fingerprint {
		return func(bi, li, ri int) Fingerprint {
			if v := tag[c.Binds[bi].Listeners[li].HTTPRoutes[ri].EffectiveKey()]; v != "" {
				return Fingerprint{Inputs: "in", Object: "route", Version: v}
			}
			return Fingerprint{}
		}
	}
	tags := map[string]string{}
	for i := range 10 {
		tags[fmt.Sprintf("ns/r%d", i)] = "v1"
	}
	first := gateway(10)
	prev, err := EncodeReusing(first, nil, fp(first, tags))
	if err != nil || prev.Reused() != 0 {
		t.Fatalf("first: %v, reused %d", err, prev.Reused())
	}
	same := func(what string, got *Encoded, c *config.Config) {
		t.Helper()
		want := mustEncode(t, c)
		if got.Version != want.Version || got.Size() != want.Size() || string(Diff(want, got)) != `{"base":"`+want.Version+`"}` {
			t.Fatalf("%s: differs from Encode: %s", what, Diff(want, got))
		}
	}
	// One route changed (its fingerprint too), one added without a fingerprint.
	next := gateway(11)
	next.Binds[0].Listeners[0].HTTPRoutes[1].Hostnames = []string{"changed.example.com"}
	changed := next.Binds[0].Listeners[0].HTTPRoutes[1].EffectiveKey()
	tags2 := maps.Clone(tags)
	tags2[changed] = "v2"
	got, err := EncodeReusing(next, prev, fp(next, tags2))
	if err != nil {
		t.Fatal(err)
	}
	same("one changed, one added", got, next)
	if got.Reused() != 9 {
		t.Fatalf("reused %d, want 9", got.Reused())
	}
	for _, r := range next.Binds[0].Listeners[0].HTTPRoutes {
		k := r.EffectiveKey()
		want := k != changed && tags[k] != ""
		if got.ReusedRoute(next.Binds[0].Name, next.Binds[0].Listeners[0].Name, k) != want {
			t.Fatalf("ReusedRoute(%s) = %v, want %v", k, !want, want)
		}
	}
	if got.ReusedRoute("other", next.Binds[0].Listeners[0].Name, "ns/r0") {
		t.Fatal("ReusedRoute of a bind that does not exist")
	}
	// The fingerprints are the caller's promise: an unchanged one reuses the piece even
	// if the route differs (here deliberately, to see that the piece came from prev).
	lie := gateway(10)
	lie.Binds[0].Listeners[0].HTTPRoutes[1].Hostnames = []string{"lie.example.com"}
	got, err = EncodeReusing(lie, prev, fp(lie, tags))
	if err != nil {
		t.Fatal(err)
	}
	if got.Reused() != 10 || got.Version != prev.Version {
		t.Fatalf("reused %d, version %s; want every piece of %s", got.Reused(), got.Version, prev.Version)
	}
	// No fingerprint, no reuse.
	untagged := gateway(10)
	got, err = EncodeReusing(untagged, prev, fp(untagged, map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Reused() != 0 {
		t.Fatalf("reused %d without fingerprints", got.Reused())
	}
	same("no fingerprints", got, gateway(10))
	// Encode records no fingerprints: nothing is reused after it.
	again := gateway(10)
	got, err = EncodeReusing(again, mustEncode(t, gateway(10)), fp(again, tags))
	if err != nil {
		t.Fatal(err)
	}
	if got.Reused() != 0 {
		t.Fatalf("reused %d from an Encode", got.Reused())
	}
}
