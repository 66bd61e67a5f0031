// Package configdelta cuts a proxy config into pieces, so that a new version can be sent
// to a proxy as what changed since the version it runs, and puts a config back together
// from such a delta.
//
// A config is cut into
//
//   - its binds: every bind and listener with everything but their HTTP routes;
//   - its names: the keys of each listener's HTTP routes in config order, and the backend
//     names in order;
//   - one piece per HTTP route, named by bind, listener and route key (RouteMeta.EffectiveKey);
//   - one piece per backend, named by backend name.
//
// HTTP routes and backends are what grows with a Gateway's size, and a change to one
// Kubernetes object usually changes one of each at most. A Delta carries the binds and the
// names only when they changed (so listener certificates are not sent again when a route
// is added), and the route and backend pieces that are new or differ from the base;
// pieces the new names no longer list are gone. Apply rebuilds the exact config: the
// same binds, listeners, routes and backends, in the same order, as a full push of that
// version would carry.
//
// The operator side works on encoded pieces (Encode), so comparing two versions is a byte
// comparison per piece and the bytes of unchanged pieces are never produced twice; the
// version is a content hash over the pieces. The proxy side works on decoded configs
// (Apply): it never encodes.
package configdelta

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// Binds are a config's binds, each listener without its HTTP routes.
type Binds struct {
	Binds []config.Bind `json:"binds"`
}

// Names are the keys (RouteMeta.EffectiveKey) of a config's HTTP routes, per bind and
// listener (same indexes as Binds) in config order, and its backend names in order.
type Names struct {
	RouteKeys [][][]string `json:"routeKeys"`
	Backends  []string     `json:"backends"`
}

// Delta is a config given as its changes from Base, the version the proxy runs.
type Delta struct {
	// Base is the version the delta applies to.
	Base string `json:"base"`
	// Binds are the new binds; nil when they are the base's.
	Binds *Binds `json:"binds,omitempty"`
	// Names are the new names; nil when they are the base's.
	Names *Names `json:"names,omitempty"`
	// Routes are the HTTP routes that are new or changed.
	Routes []Route `json:"routes,omitempty"`
	// Backends are the backends that are new or changed.
	Backends []config.Backend `json:"backends,omitempty"`
}

// Route is one HTTP route of a Delta and the listener it is on.
type Route struct {
	Bind     string           `json:"bind"`
	Listener string           `json:"listener"`
	Route    config.HTTPRoute `json:"route"`
}

// Unchanged says, for a config that Apply rebuilt from d, which HTTP routes (by bind,
// listener and route key) are the base config's: every route d does not carry.
func (d *Delta) Unchanged() func(bind, listener, routeKey string) bool {
	carried := make(map[routeID]bool, len(d.Routes))
	for i := range d.Routes {
		r := &d.Routes[i]
		carried[routeID{r.Bind, r.Listener, r.Route.EffectiveKey()}] = true
	}
	return func(bind, listener, routeKey string) bool { return !carried[routeID{bind, listener, routeKey}] }
}

// routeID names an HTTP route within a config.
type routeID struct{ bind, listener, key string }

func (id routeID) String() string { return id.bind + "/" + id.listener + "/" + id.key }

// Encoded is a config cut into pieces, each encoded as JSON. It is immutable once made.
type Encoded struct {
	// Version is the content hash of the pieces: equal configs (ignoring Config.Version)
	// have equal versions.
	Version string

	binds    []byte
	names    []byte
	reused   int
	order    []routeID
	routes   map[routeID]routePiece
	backends []namedPiece
	size     int
}

// routePiece is the encoding of one HTTP route, the caller's fingerprint of it
// (EncodeReusing) and whether it was taken from the previous version.
type routePiece struct {
	raw    []byte
	sum    [sha256.Size]byte // of raw, for the version
	fp     Fingerprint
	reused bool
}

// Fingerprint is what a caller of EncodeReusing says an HTTP route was built from: equal
// fingerprints promise equal routes. The zero value means unknown (never reused). Its
// parts are the caller's to choose; a translator might use a fingerprint of every input
// that is not a route, and the route object's UID and resourceVersion. They are separate
// strings so that a caller need not join them for every route of every version.
type Fingerprint struct{ Inputs, Object, Version string }

type namedPiece struct {
	name string
	raw  []byte
}

// Size is the total length of the encoded pieces, about the size of a full push.
func (e *Encoded) Size() int { return e.size }

// Reused is how many route pieces EncodeReusing took from the previous version.
func (e *Encoded) Reused() int { return e.reused }

// ReusedRoute says whether EncodeReusing took the piece of the HTTP route with this key
// on this bind and listener from the previous version.
func (e *Encoded) ReusedRoute(bind, listener, routeKey string) bool {
	return e.routes[routeID{bind, listener, routeKey}].reused
}

// Routes is how many HTTP route pieces there are.
func (e *Encoded) Routes() int { return len(e.order) }

// Encode cuts c into pieces and encodes them. It fails on duplicate route keys within a
// listener or duplicate backend names (which config.Validate rejects too): pieces must
// have unique names. c is not modified.
func Encode(c *config.Config) (*Encoded, error) { return EncodeReusing(c, nil, nil) }

// EncodeReusing is Encode that takes the bytes of an HTTP route from prev instead of
// encoding it again when fingerprint(bi, li, ri), for c.Binds[bi].Listeners[li].HTTPRoutes[ri],
// is not zero and equals the fingerprint prev recorded for the same route (same bind,
// listener and route key). The caller promises that equal fingerprints mean equal routes
// (a translator can fingerprint a route by the inputs it was built from). The result is
// the same as Encode's, bytes and version alike.
func EncodeReusing(c *config.Config, prev *Encoded, fingerprint func(bi, li, ri int) Fingerprint) (*Encoded, error) {
	// Pieces are written into one buffer (one allocation that grows, instead of one per
	// piece) and sliced out of it at the end.
	var buf bytes.Buffer
	w := json.NewEncoder(&buf)
	type span struct{ start, end int }
	nroutes := 0
	for bi := range c.Binds {
		for li := range c.Binds[bi].Listeners {
			nroutes += len(c.Binds[bi].Listeners[li].HTTPRoutes)
		}
	}
	e := &Encoded{routes: make(map[routeID]routePiece, nroutes), order: make([]routeID, 0, nroutes)}
	// routeSpans[i] locates the i-th route's bytes in buf, unless its piece is reused.
	routeSpans := make([]span, nroutes)
	encode := func(v any) (span, error) {
		start := buf.Len()
		if err := w.Encode(v); err != nil {
			return span{}, err
		}
		return span{start, buf.Len() - 1}, nil // without Encode's newline
	}
	for bi := range c.Binds {
		b := &c.Binds[bi]
		for li := range b.Listeners {
			l := &b.Listeners[li]
			for ri := range l.HTTPRoutes {
				r := &l.HTTPRoutes[ri]
				id := routeID{b.Name, l.Name, r.EffectiveKey()}
				if _, dup := e.routes[id]; dup {
					return nil, fmt.Errorf("configdelta: duplicate HTTP route key %q on listener %s/%s", id.key, id.bind, id.listener)
				}
				i := len(e.order)
				e.order = append(e.order, id)
				var fp Fingerprint
				if fingerprint != nil {
					fp = fingerprint(bi, li, ri)
				}
				if fp != (Fingerprint{}) && prev != nil {
					if old := prev.routes[id]; old.fp == fp && old.raw != nil {
						e.routes[id] = routePiece{raw: old.raw, sum: old.sum, fp: fp, reused: true}
						e.reused++
						continue
					}
				}
				e.routes[id] = routePiece{fp: fp} // claimed; the bytes are filled in below
				sp, err := encode(r)
				if err != nil {
					return nil, fmt.Errorf("configdelta: encode route %s: %w", id, err)
				}
				routeSpans[i] = sp
			}
		}
	}
	seen := make(map[string]bool, len(c.Backends))
	backendSpans := make([]span, 0, len(c.Backends))
	for i := range c.Backends {
		be := &c.Backends[i]
		if seen[be.Name] {
			return nil, fmt.Errorf("configdelta: duplicate backend name %q", be.Name)
		}
		seen[be.Name] = true
		sp, err := encode(be)
		if err != nil {
			return nil, fmt.Errorf("configdelta: encode backend %s: %w", be.Name, err)
		}
		backendSpans = append(backendSpans, sp)
	}
	bindsSpan, err := encode(bindsOf(c))
	if err != nil {
		return nil, fmt.Errorf("configdelta: encode binds: %w", err)
	}
	namesSpan, err := encode(namesOf(c))
	if err != nil {
		return nil, fmt.Errorf("configdelta: encode names: %w", err)
	}
	data := buf.Bytes()
	piece := func(sp span) []byte { return data[sp.start:sp.end:sp.end] }
	// The version hashes the digest of every route piece (each route's own SHA-256, kept
	// with a reused piece, so unchanged routes are not hashed again), then every other
	// piece followed by a newline, in the order backends, binds, names: JSON values
	// delimit themselves, so this names one sequence of pieces.
	h := sha256.New()
	add := func(p []byte) {
		h.Write(p)
		h.Write(newline)
		e.size += len(p) + 1
	}
	for i, id := range e.order {
		rp := e.routes[id]
		if !rp.reused {
			p := piece(routeSpans[i])
			if fingerprint != nil {
				// A later version may reuse this piece: give it its own memory, so that
				// it does not keep this version's buffer (its names, binds, backends)
				// alive.
				p = bytes.Clone(p)
			}
			rp.raw, rp.sum = p, sha256.Sum256(p)
			e.routes[id] = rp
		}
		h.Write(rp.sum[:])
		e.size += len(rp.raw) + 1
	}
	for i, sp := range backendSpans {
		p := piece(sp)
		e.backends = append(e.backends, namedPiece{c.Backends[i].Name, p})
		add(p)
	}
	e.binds, e.names = piece(bindsSpan), piece(namesSpan)
	add(e.binds)
	add(e.names)
	var sum [sha256.Size]byte
	e.Version = hex.EncodeToString(h.Sum(sum[:0])[:8])
	return e, nil
}

var newline = []byte{'\n'}

// Diff returns the JSON of the Delta that turns base into next. It names base.Version as
// its base.
func Diff(base, next *Encoded) []byte {
	var b bytes.Buffer
	b.Grow(256)
	b.WriteString(`{"base":`)
	writeString(&b, base.Version)
	if !bytes.Equal(base.binds, next.binds) {
		b.WriteString(`,"binds":`)
		b.Write(next.binds)
	}
	if !bytes.Equal(base.names, next.names) {
		b.WriteString(`,"names":`)
		b.Write(next.names)
	}
	first := true
	for _, id := range next.order {
		raw := next.routes[id].raw
		if old, ok := base.routes[id]; ok && bytes.Equal(old.raw, raw) {
			continue
		}
		if first {
			b.WriteString(`,"routes":[`)
			first = false
		} else {
			b.WriteByte(',')
		}
		b.WriteString(`{"bind":`)
		writeString(&b, id.bind)
		b.WriteString(`,"listener":`)
		writeString(&b, id.listener)
		b.WriteString(`,"route":`)
		b.Write(raw)
		b.WriteByte('}')
	}
	if !first {
		b.WriteByte(']')
	}
	old := make(map[string][]byte, len(base.backends))
	for _, p := range base.backends {
		old[p.name] = p.raw
	}
	first = true
	for _, p := range next.backends {
		if o, ok := old[p.name]; ok && bytes.Equal(o, p.raw) {
			continue
		}
		if first {
			b.WriteString(`,"backends":[`)
			first = false
		} else {
			b.WriteByte(',')
		}
		b.Write(p.raw)
	}
	if !first {
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeString(b *bytes.Buffer, s string) {
	raw, _ := json.Marshal(s) //nolint:errcheck // a string always encodes; a string always encodes
	b.Write(raw)
}

// bindsOf returns c's binds without HTTP routes. It shares the listeners' TLS settings
// and L4 routes with c.
func bindsOf(c *config.Config) *Binds {
	out := &Binds{Binds: make([]config.Bind, len(c.Binds))}
	for bi := range c.Binds {
		b := c.Binds[bi]
		b.Listeners = make([]config.Listener, len(c.Binds[bi].Listeners))
		for li := range c.Binds[bi].Listeners {
			l := c.Binds[bi].Listeners[li]
			l.HTTPRoutes = nil
			b.Listeners[li] = l
		}
		out.Binds[bi] = b
	}
	return out
}

// namesOf returns c's names.
func namesOf(c *config.Config) *Names {
	out := &Names{RouteKeys: make([][][]string, len(c.Binds)), Backends: make([]string, len(c.Backends))}
	for bi := range c.Binds {
		out.RouteKeys[bi] = make([][]string, len(c.Binds[bi].Listeners))
		for li := range c.Binds[bi].Listeners {
			rs := c.Binds[bi].Listeners[li].HTTPRoutes
			keys := make([]string, len(rs))
			for ri := range rs {
				keys[ri] = rs[ri].EffectiveKey()
			}
			out.RouteKeys[bi][li] = keys
		}
	}
	for i := range c.Backends {
		out.Backends[i] = c.Backends[i].Name
	}
	return out
}

// Apply rebuilds the config that d describes from base, the config the proxy runs, whose
// Version must be d.Base. The result's Version is version. Unchanged routes and backends
// are shallow copies of base's, so neither base nor the result may be modified afterwards
// (a proxy never modifies a config it applied). A delta whose names list a route or
// backend that neither it nor base has, or one twice, or that carries one they do not
// list, is an error and changes nothing.
func Apply(base *config.Config, d *Delta, version string) (*config.Config, error) {
	if base == nil {
		return nil, fmt.Errorf("configdelta: a delta from %s arrived before any config", d.Base)
	}
	if base.Version != d.Base {
		return nil, fmt.Errorf("configdelta: the delta applies to version %s, but %s runs", d.Base, base.Version)
	}
	binds, names := d.Binds, d.Names
	if binds == nil {
		binds = bindsOf(base)
	}
	if names == nil {
		names = namesOf(base)
	}
	if len(names.RouteKeys) != len(binds.Binds) {
		return nil, fmt.Errorf("configdelta: %d binds but route keys for %d", len(binds.Binds), len(names.RouteKeys))
	}
	have := map[routeID]*config.HTTPRoute{}
	for bi := range base.Binds {
		b := &base.Binds[bi]
		for li := range b.Listeners {
			l := &b.Listeners[li]
			for ri := range l.HTTPRoutes {
				r := &l.HTTPRoutes[ri]
				have[routeID{b.Name, l.Name, r.EffectiveKey()}] = r
			}
		}
	}
	changed := make(map[routeID]*config.HTTPRoute, len(d.Routes))
	for i := range d.Routes {
		r := &d.Routes[i]
		id := routeID{r.Bind, r.Listener, r.Route.EffectiveKey()}
		if changed[id] != nil {
			return nil, fmt.Errorf("configdelta: route %s is in the delta twice", id)
		}
		changed[id] = &r.Route
	}
	out := &config.Config{Version: version, Binds: make([]config.Bind, len(binds.Binds))}
	used := 0
	listed := make(map[routeID]bool, len(have)+len(changed))
	for bi := range binds.Binds {
		b := binds.Binds[bi]
		if len(names.RouteKeys[bi]) != len(b.Listeners) {
			return nil, fmt.Errorf("configdelta: bind %s has %d listeners but route keys for %d", b.Name, len(b.Listeners), len(names.RouteKeys[bi]))
		}
		b.Listeners = make([]config.Listener, len(binds.Binds[bi].Listeners))
		for li := range binds.Binds[bi].Listeners {
			l := binds.Binds[bi].Listeners[li]
			keys := names.RouteKeys[bi][li]
			l.HTTPRoutes = nil
			if len(keys) > 0 {
				l.HTTPRoutes = make([]config.HTTPRoute, len(keys))
			}
			for ri, k := range keys {
				id := routeID{b.Name, l.Name, k}
				if listed[id] {
					// Encode refuses such a config: it is no version.
					return nil, fmt.Errorf("configdelta: route %s is listed twice", id)
				}
				listed[id] = true
				if r := changed[id]; r != nil {
					l.HTTPRoutes[ri] = *r
					used++
				} else if r := have[id]; r != nil {
					l.HTTPRoutes[ri] = *r
				} else {
					return nil, fmt.Errorf("configdelta: route %s is neither in the delta nor in version %s", id, d.Base)
				}
			}
			b.Listeners[li] = l
		}
		out.Binds[bi] = b
	}
	if used != len(changed) {
		return nil, fmt.Errorf("configdelta: the delta carries %d routes that its names do not list", len(changed)-used)
	}
	haveBe := make(map[string]*config.Backend, len(base.Backends))
	for i := range base.Backends {
		haveBe[base.Backends[i].Name] = &base.Backends[i]
	}
	changedBe := make(map[string]*config.Backend, len(d.Backends))
	for i := range d.Backends {
		be := &d.Backends[i]
		if changedBe[be.Name] != nil {
			return nil, fmt.Errorf("configdelta: backend %s is in the delta twice", be.Name)
		}
		changedBe[be.Name] = be
	}
	if len(names.Backends) > 0 {
		out.Backends = make([]config.Backend, len(names.Backends))
	}
	used = 0
	listedBe := make(map[string]bool, len(names.Backends))
	for i, name := range names.Backends {
		if listedBe[name] {
			return nil, fmt.Errorf("configdelta: backend %s is listed twice", name)
		}
		listedBe[name] = true
		if be := changedBe[name]; be != nil {
			out.Backends[i] = *be
			used++
		} else if be := haveBe[name]; be != nil {
			out.Backends[i] = *be
		} else {
			return nil, fmt.Errorf("configdelta: backend %s is neither in the delta nor in version %s", name, d.Base)
		}
	}
	if used != len(changedBe) {
		return nil, fmt.Errorf("configdelta: the delta carries %d backends that its names do not list", len(changedBe)-used)
	}
	return out, nil
}
