package translate

import (
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// matchKey orders HTTP matches as the Gateway API says: Exact path, then the longest
// PathPrefix, then method, then most headers, then most query params. RegularExpression
// paths rank after prefixes (implementation-specific in the spec).
type matchKey struct {
	pathRank, pathLen, method, headers, query int
}

func keyOfMatch(m config.HTTPRouteMatch) matchKey {
	k := matchKey{pathRank: 1, pathLen: 1}
	if m.Path != nil {
		switch m.Path.Type {
		case config.PathMatchExact:
			k.pathRank = 3
		case config.PathMatchRegularExpression:
			k.pathRank = 0
		default:
			k.pathRank = 1
		}
		k.pathLen = len(m.Path.Value)
	}
	if m.Method != "" {
		k.method = 1
	}
	k.headers, k.query = len(m.Headers), len(m.QueryParams)
	return k
}

func (a matchKey) less(b matchKey) bool { // a is more specific than b
	switch {
	case a.pathRank != b.pathRank:
		return a.pathRank > b.pathRank
	case a.pathLen != b.pathLen:
		return a.pathLen > b.pathLen
	case a.method != b.method:
		return a.method > b.method
	case a.headers != b.headers:
		return a.headers > b.headers
	}
	return a.query > b.query
}

// rulePrecedence is the key of the rule's most specific match (a rule is listed where its
// best match would be evaluated).
func rulePrecedence(r config.HTTPRouteRule) matchKey {
	best := keyOfMatch(config.HTTPRouteMatch{})
	for i, m := range r.Matches {
		k := keyOfMatch(m)
		if i == 0 || k.less(best) {
			best = k
		}
	}
	return best
}

// hostKey ranks the most specific hostname a route serves on a listener: the Gateway API
// matches the longest exact hostname first, then the longest wildcard, then routes without
// hostnames.
type hostKey struct {
	exact, length int
}

func keyOfHosts(hs []string) hostKey {
	var best hostKey
	for _, h := range hs {
		k := hostKey{length: len(h)}
		if !strings.HasPrefix(h, "*") {
			k.exact = 1
		}
		if k.exact > best.exact || k.exact == best.exact && k.length > best.length {
			best = k
		}
	}
	return best
}

// keyOfOwnHosts ranks the most specific of a route's own hostnames that intersects the
// listener's: among routes whose hostnames narrow to the same names on a listener, the one
// with the more specific own hostname goes first (GatewayRouteHostnameIntersectionPrecedence).
// A route without hostnames has the zero key.
func keyOfOwnHosts(listener string, route []string) hostKey {
	var best hostKey
	for _, h := range route {
		if _, ok := hostnameMatch(listener, h); ok {
			if k := keyOfHosts([]string{h}); k.moreSpecific(best) {
				best = k
			}
		}
	}
	return best
}

// effEntry orders one EffectiveRoute of a listener; ties keep route order (oldest route
// first, then namespace/name) and rule order. It holds only what orders the route, computed
// once, so sorting moves small values and compares without recomputing.
type effEntry struct {
	host   hostKey  // keyOfHosts of the route's hostnames on the listener
	orig   hostKey  // keyOfOwnHosts: its own hostnames, which break ties of host
	key    matchKey // rulePrecedence of an HTTP rule
	hasKey bool     // false for L4 routes, which have no matches
	route  int
	rule   int
	er     int // index of the EffectiveRoute in the order built (route, then rule)
}

func (a *effEntry) less(b *effEntry) bool {
	if a.host != b.host {
		return a.host.moreSpecific(b.host)
	}
	if a.orig != b.orig {
		return a.orig.moreSpecific(b.orig)
	}
	if a.hasKey && b.hasKey {
		if a.key.less(b.key) {
			return true
		}
		if b.key.less(a.key) {
			return false
		}
	}
	if a.route != b.route {
		return a.route < b.route
	}
	return a.rule < b.rule
}
