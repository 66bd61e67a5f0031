package configdelta

import (
	"encoding/json"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// fuzzBase is the config the fuzzed deltas apply to, with its version set.
func fuzzBase(t testing.TB) *config.Config {
	t.Helper()
	c := gateway(4)
	c.Version = mustEncode(t, c).Version
	return c
}

// FuzzApply decodes arbitrary JSON as a Delta, as the proxy does, and
// applies it to a base config. Apply must never panic nor modify the
// base; a config it rebuilds must be exactly what the delta the operator
// computes for that config (Diff, the reference) rebuilds, and every
// route the delta reports unchanged must be the base's.
func FuzzApply(f *testing.F) {
	base := fuzzBase(f)
	be := mustEncode(f, base)
	variants := []func(c *config.Config){
		func(c *config.Config) { c.Backends[0] = backend(0, "10.0.0.9") },
		func(c *config.Config) {
			l := &c.Binds[0].Listeners[0]
			l.HTTPRoutes = append(l.HTTPRoutes, route(7, "be-1"))
		},
		func(c *config.Config) { c.Binds[0].Listeners[1].HTTPRoutes = nil },
		func(c *config.Config) { c.Binds = c.Binds[:2]; c.Backends = c.Backends[1:] },
		func(c *config.Config) { c.Binds[1].Listeners[0].Hostname = "x.example.com" },
	}
	for _, change := range variants {
		next := gateway(4)
		change(next)
		f.Add(Diff(be, mustEncode(f, next)), false)
	}
	f.Add([]byte(`{"base":"x","names":{"routeKeys":[[["ns/r0","ns/r0"]]],"backends":["be-0","be-0"]},"binds":{"binds":[{"name":"port-80","listeners":[{"name":"http"}]}]}}`), true)
	f.Add([]byte(`{"base":"x","routes":[{"bind":"port-80","listener":"http","route":{"namespace":"ns","name":"r0","rules":null}},{"bind":"port-80","listener":"http","route":{"key":"ns/r0","rules":[]}}]}`), true)
	f.Add([]byte(`{"base":"x","names":{"routeKeys":[],"backends":[]},"binds":null}`), true)
	f.Add([]byte(`{"base":"x","names":{"routeKeys":[null,null,null]}}`), true)
	baseJSON := fullJSON(f, base)
	f.Fuzz(func(t *testing.T, data []byte, setBase bool) {
		var d Delta
		if json.Unmarshal(data, &d) != nil {
			return
		}
		if setBase {
			d.Base = base.Version
		}
		out, err := Apply(base, &d, "next")
		if got := fullJSON(t, base); got != baseJSON {
			t.Fatalf("Apply modified the base config:\n%s\nwas\n%s", got, baseJSON)
		}
		if err != nil {
			if out != nil {
				t.Fatalf("a config with the error %v", err)
			}
			return
		}
		if out.Version != "next" {
			t.Fatalf("version %q", out.Version)
		}
		oe, err := Encode(out)
		if err != nil {
			t.Fatalf("encode the rebuilt config: %v", err)
		}
		var ref Delta
		if err := json.Unmarshal(Diff(be, oe), &ref); err != nil {
			t.Fatalf("decode Diff: %v", err)
		}
		again, err := Apply(base, &ref, "next")
		if err != nil {
			t.Fatalf("the operator's delta for the rebuilt config does not apply: %v", err)
		}
		if got, want := fullJSON(t, out), fullJSON(t, again); got != want {
			t.Fatalf("delta rebuilt\n%s\nthe operator's delta for it rebuilds\n%s", got, want)
		}
		unchanged := d.Unchanged()
		baseRoutes := map[routeID]string{}
		for _, b := range base.Binds {
			for _, l := range b.Listeners {
				for i := range l.HTTPRoutes {
					baseRoutes[routeID{b.Name, l.Name, l.HTTPRoutes[i].EffectiveKey()}] = routeJSON(t, &l.HTTPRoutes[i])
				}
			}
		}
		for _, b := range out.Binds {
			for _, l := range b.Listeners {
				for i := range l.HTTPRoutes {
					r := &l.HTTPRoutes[i]
					id := routeID{b.Name, l.Name, r.EffectiveKey()}
					if !unchanged(id.bind, id.listener, id.key) {
						continue
					}
					if was, ok := baseRoutes[id]; !ok || was != routeJSON(t, r) {
						t.Fatalf("route %s reported unchanged, but the base has %q and the rebuilt config %q", id, was, routeJSON(t, r))
					}
				}
			}
		}
	})
}
