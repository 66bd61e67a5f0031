package l4

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
)

// Route sends the connections it matches to its weighted backends.
type Route struct {
	// Name identifies the route in logs and Stats (for example
	// "namespace/tlsroute-name"). It need not be unique.
	Name string
	// Listener names the route's listener in session reports.
	Listener string
	// Hostnames are matched against the TLS SNI: exact names, or a leading
	// "*." wildcard that matches one or more labels ("*.example.com" matches
	// "a.example.com" and "a.b.example.com", never "example.com"). An empty
	// list matches every connection, including ones without SNI; that is the
	// only kind of route a plain TCP listener can select.
	Hostnames []string
	Backends  []WeightedTarget
	// Terminate, on a passthrough listener only, makes the proxy complete
	// the TLS handshake itself for the connections this route matches and
	// forward plaintext. Gateway API TLS listeners sharing a port may mix
	// Passthrough and Terminate modes; routing on the peeked SNI first lets
	// one socket serve both.
	Terminate *tls.Config
}

// compiledRoute is a Route with its picker built once per Update.
type compiledRoute struct {
	name      string
	listener  string
	picker    *picker
	terminate *tls.Config
}

// SNIRouter selects a route by server name. It is immutable once built, so
// the connection path reads it without locks.
type SNIRouter struct {
	exact map[string]*compiledRoute
	// wildcards are ordered by suffix length, longest first, so the most
	// specific wildcard wins as the Gateway API requires.
	wildcards []wildcardRoute
	catchAll  *compiledRoute
}

type wildcardRoute struct {
	suffix string // ".example.com" for "*.example.com"
	route  *compiledRoute
}

// NewSNIRouter validates routes and builds a router. When two routes claim
// the same hostname the earlier one keeps it: the translator orders routes
// by Gateway API precedence (oldest first, then by name), so the proxy only
// needs to respect that order.
func NewSNIRouter(routes []Route) (*SNIRouter, error) {
	r := &SNIRouter{exact: map[string]*compiledRoute{}}
	for i, rt := range routes {
		p, err := newPicker(rt.Backends)
		if err != nil {
			return nil, fmt.Errorf("route %d (%s): %w", i, rt.Name, err)
		}
		cr := &compiledRoute{name: rt.Name, listener: rt.Listener, picker: p, terminate: rt.Terminate}
		if len(rt.Hostnames) == 0 {
			if r.catchAll == nil {
				r.catchAll = cr
			}
			continue
		}
		for _, h := range rt.Hostnames {
			h, err := normalizeHostname(h)
			if err != nil {
				return nil, fmt.Errorf("route %d (%s): %w", i, rt.Name, err)
			}
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				if !r.hasWildcard(suffix) {
					r.wildcards = append(r.wildcards, wildcardRoute{suffix: suffix, route: cr})
				}
				continue
			}
			if _, dup := r.exact[h]; !dup {
				r.exact[h] = cr
			}
		}
	}
	// Stable, so that equal-length wildcards keep route order.
	sort.SliceStable(r.wildcards, func(a, b int) bool {
		return len(r.wildcards[a].suffix) > len(r.wildcards[b].suffix)
	})
	return r, nil
}

func (r *SNIRouter) hasWildcard(suffix string) bool {
	for _, w := range r.wildcards {
		if w.suffix == suffix {
			return true
		}
	}
	return false
}

// Match returns the name of the route serving sni and whether one exists.
func (r *SNIRouter) Match(sni string) (string, bool) {
	cr := r.match(sni)
	if cr == nil {
		return "", false
	}
	return cr.name, true
}

func (r *SNIRouter) match(sni string) *compiledRoute {
	if sni == "" {
		return r.catchAll
	}
	// SNI is case-insensitive (RFC 6066 refers to DNS names) and may carry
	// the absolute-name trailing dot; neither should change routing.
	sni = strings.ToLower(strings.TrimSuffix(sni, "."))
	if cr, ok := r.exact[sni]; ok {
		return cr
	}
	for _, w := range r.wildcards {
		// len(sni) > len(suffix) guarantees at least one label before the
		// suffix, since the suffix starts with a dot.
		if len(sni) > len(w.suffix) && strings.HasSuffix(sni, w.suffix) {
			return w.route
		}
	}
	return r.catchAll
}

// normalizeHostname lowercases h and checks it is a DNS name, optionally
// with a single leading "*." label, as Gateway API hostnames are.
func normalizeHostname(h string) (string, error) {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(h) > 253 {
		return "", fmt.Errorf("hostname %q is not a DNS name", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("hostname %q has an empty or over-long label", h)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("hostname %q: character %q is not allowed (only a leading \"*.\" wildcard)", h, c)
			}
		}
	}
	if strings.HasPrefix(h, "*") && !strings.HasPrefix(h, "*.") {
		return "", fmt.Errorf("hostname %q: a wildcard must be the whole first label", h)
	}
	return h, nil
}
