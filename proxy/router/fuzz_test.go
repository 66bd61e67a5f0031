package router

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// refNormalizeHost is NormalizeHost as its doc states it: the host
// without a port (or the brackets of an IPv6 literal) and without a
// trailing dot, ASCII letters in lower case.
func refNormalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	h = strings.TrimSuffix(h, ".")
	b := []byte(h)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzNormalizeHost compares NormalizeHost with the reference above, and
// checks that hostname matching and Intersect agree on the host.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{
		"Example.COM.", "example.com:8080", "[::1]:80", "[::1]", "::1", "a.b.c:",
		"\u212a.example.com", "\u212aA.EXAMPLE.com", "caf\xc3\x89.com", "\xff\xfeA", "[]", "[", "]", ":80",
	} {
		f.Add(s, "*.example.com", "k.example.com")
	}
	f.Add("x.a.example.com", "*.a.example.com", "*.example.com")
	f.Add("example.com", "*.com", "example.com")
	f.Fuzz(func(t *testing.T, host, a, b string) {
		got := NormalizeHost(host)
		if want := refNormalizeHost(host); got != want {
			t.Fatalf("NormalizeHost(%q) = %q, want %q", host, got, want)
		}
		x, ok := Intersect(a, b)
		both := WildcardMatches(a, got) && WildcardMatches(b, got)
		if ok && WildcardMatches(x, got) != both {
			t.Fatalf("Intersect(%q, %q) = %q; host %q: matches both %v, the intersection %v", a, b, x, got, both, !both)
		}
		if !ok && both && validPattern(a) && validPattern(b) {
			t.Fatalf("Intersect(%q, %q) says disjoint, but %q matches both", a, b, got)
		}
	})
}

// validPattern reports whether p is a hostname pattern config validation
// could accept: "", a name, or "*." and a name (no '*' elsewhere).
func validPattern(p string) bool {
	p = strings.TrimPrefix(p, "*.")
	return !strings.Contains(p, "*") && !strings.HasPrefix(p, ".")
}

// Pools the route fuzzer builds listeners and routes from; every value
// is one config validation accepts.
var (
	fuzzHostnames = []string{"", "a.example.com", "*.example.com", "*.com", "b.a.example.com", "*.a.example.com", "other.org"}
	fuzzPaths     = []string{"/", "/foo", "/foo/", "/foo/bar", "/x", "/fo", "/foo/[a-z]+", "/.*", "/foo/bar/"}
	fuzzMethods   = []string{"", "GET", "POST"}
	fuzzValues    = []string{"v", "v.*", "", "1"}
)

// fuzzBytes hands out bytes of fuzz input, then zeros.
type fuzzBytes []byte

func (b *fuzzBytes) next(n int) int {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return int(c) % n
}

func (b *fuzzBytes) pick(pool []string) string { return pool[b.next(len(pool))] }

// fuzzListener builds a listener with up to four routes from data.
func fuzzListener(data []byte) *config.Listener {
	b := fuzzBytes(data)
	l := &config.Listener{Hostname: b.pick(fuzzHostnames[:3])}
	for i := range b.next(4) + 1 {
		r := config.HTTPRoute{RouteMeta: config.RouteMeta{
			Namespace:         []string{"ns", "a"}[b.next(2)],
			Name:              fmt.Sprintf("r%d", i),
			CreationTimestamp: t0.Add(time.Duration(b.next(3)) * time.Hour),
		}}
		for range b.next(3) {
			r.Hostnames = append(r.Hostnames, b.pick(fuzzHostnames[1:]))
		}
		for range b.next(2) + 1 {
			var rule config.HTTPRouteRule
			for range b.next(3) {
				var m config.HTTPRouteMatch
				if k := b.next(4); k > 0 {
					m.Path = &config.PathMatch{Type: []config.PathMatchType{config.PathMatchExact, config.PathMatchPathPrefix, config.PathMatchRegularExpression}[k-1], Value: b.pick(fuzzPaths)}
					if m.Path.Type != config.PathMatchRegularExpression && strings.ContainsAny(m.Path.Value, "[*") {
						m.Path.Value = "/foo"
					}
				}
				m.Method = b.pick(fuzzMethods)
				for range b.next(3) {
					m.Headers = append(m.Headers, config.HeaderMatch{Type: []config.MatchType{config.MatchExact, config.MatchRegularExpression}[b.next(2)], Name: []string{"h", "X-Other"}[b.next(2)], Value: b.pick(fuzzValues)})
				}
				for range b.next(2) {
					m.QueryParams = append(m.QueryParams, config.QueryParamMatch{Type: []config.MatchType{config.MatchExact, config.MatchRegularExpression}[b.next(2)], Name: "q", Value: b.pick(fuzzValues)})
				}
				rule.Matches = append(rule.Matches, m)
			}
			r.Rules = append(r.Rules, rule)
		}
		l.HTTPRoutes = append(l.HTTPRoutes, r)
	}
	return l
}

// Reference routing: every (route, rule, match) that matches the request
// is a candidate, and the best by the Gateway API precedence wins.

func refWildcard(pattern, host string) bool {
	switch {
	case pattern == "":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	}
	return pattern == host
}

// specificity orders hostname patterns: an exact name, then wildcards by
// length, then "" (smaller is more specific).
func specificity(p string) int {
	switch {
	case p == "":
		return 1 << 30
	case strings.HasPrefix(p, "*."):
		return 1<<20 - len(p)
	}
	return 0
}

type refCand struct {
	route            *config.HTTPRoute
	rule, match      int
	host, orig       int // specificity of the hostname filed under, and of the route's own
	kind, pathLen    int
	method           bool
	headers, queries int
	prefix           string
	creation         time.Time
	namespace, name  string
}

func (a *refCand) better(b *refCand) bool {
	switch {
	case a.host != b.host:
		return a.host < b.host
	case a.orig != b.orig:
		return a.orig < b.orig
	case a.kind != b.kind:
		return a.kind < b.kind
	case a.kind != 2 && a.pathLen != b.pathLen:
		return a.pathLen > b.pathLen
	case a.method != b.method:
		return a.method
	case a.headers != b.headers:
		return a.headers > b.headers
	case a.queries != b.queries:
		return a.queries > b.queries
	case !a.creation.Equal(b.creation):
		return a.creation.Before(b.creation)
	case a.namespace != b.namespace:
		return a.namespace < b.namespace
	case a.name != b.name:
		return a.name < b.name
	case a.rule != b.rule:
		return a.rule < b.rule
	}
	return a.match < b.match
}

func refValue(typ config.MatchType, want, got string) bool {
	if typ == config.MatchRegularExpression {
		return regexp.MustCompile("^(?:" + want + ")$").MatchString(got)
	}
	return want == got
}

func refRoute(l *config.Listener, r *http.Request, host string) *refCand {
	var best *refCand
	if !refWildcard(l.Hostname, host) {
		return nil
	}
	for ri := range l.HTTPRoutes {
		route := &l.HTTPRoutes[ri]
		hostRank, origRank := -1, -1
		if len(route.Hostnames) == 0 {
			hostRank, origRank = specificity(l.Hostname), specificity("")
		}
		for _, h := range route.Hostnames {
			if !refWildcard(h, host) {
				continue
			}
			// Both match the host: the more specific one is what the
			// route is filed under; among routes filed under the same,
			// the more specific route hostname goes first.
			s, o := min(specificity(h), specificity(l.Hostname)), specificity(h)
			if hostRank < 0 || s < hostRank || s == hostRank && o < origRank {
				hostRank, origRank = s, o
			}
		}
		if hostRank < 0 {
			continue
		}
		for ruleIdx, rule := range route.Rules {
			matches := rule.Matches
			if len(matches) == 0 {
				matches = []config.HTTPRouteMatch{{}}
			}
			for mi, m := range matches {
				c := &refCand{route: route, rule: ruleIdx, match: mi, host: hostRank, orig: origRank, creation: route.CreationTimestamp, namespace: route.Namespace, name: route.Name}
				path := config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/"}
				if m.Path != nil {
					path = *m.Path
				}
				switch path.Type {
				case config.PathMatchExact:
					if r.URL.Path != path.Value {
						continue
					}
					c.kind, c.pathLen = 0, len(path.Value)
				case config.PathMatchRegularExpression:
					if !refValue(config.MatchRegularExpression, path.Value, r.URL.Path) {
						continue
					}
					c.kind = 2
				default:
					p := strings.TrimRight(path.Value, "/")
					if p != "" && r.URL.Path != p && !strings.HasPrefix(r.URL.Path, p+"/") {
						continue
					}
					if p == "" {
						p = "/"
					}
					c.kind, c.pathLen, c.prefix = 1, len(p), p
				}
				if m.Method != "" && m.Method != r.Method {
					continue
				}
				ok := true
				for _, hm := range m.Headers {
					vs := r.Header.Values(hm.Name)
					ok = ok && len(vs) > 0 && refValue(hm.Type, hm.Value, strings.Join(vs, ","))
				}
				q := r.URL.Query()
				for _, qm := range m.QueryParams {
					vs := q[qm.Name]
					ok = ok && len(vs) > 0 && refValue(qm.Type, qm.Value, vs[0])
				}
				if !ok {
					continue
				}
				c.method, c.headers, c.queries = m.Method != "", len(m.Headers), len(m.QueryParams)
				if best == nil || c.better(best) {
					best = c
				}
			}
		}
	}
	return best
}

// FuzzRouteReference builds a listener from the fuzz input and checks
// that Table.Route picks the rule the slow reference above picks.
func FuzzRouteReference(f *testing.F) {
	f.Add([]byte{1, 3, 0, 0, 2, 1, 1, 2, 4, 1, 1, 1, 0}, "x.example.com", "/foo/bar", "v", "q=1")
	f.Add([]byte{0, 2, 1, 1, 0, 0, 1, 1, 3, 6, 2, 0, 1, 1, 0, 2, 1, 1}, "B.A.Example.com:8080", "/foo/abc", "vv", "q=1&q=2")
	f.Add([]byte{2, 3, 0, 1, 1, 1, 1, 2, 2, 2, 1, 0, 0, 1, 1, 1, 0, 0, 2, 2, 1, 1, 7}, "a.example.com.", "/foo/", "", "q=%zz")
	f.Add([]byte{1, 1, 1, 2, 2, 3, 5, 0, 1, 2, 2, 1, 1, 1, 0, 1, 2, 1, 8, 2}, "other.org", "/x", "1", "")
	f.Fuzz(func(t *testing.T, cfg []byte, host, path, header, query string) {
		if len(cfg) > 200 {
			return
		}
		l := fuzzListener(cfg)
		tbl := build(t, l)
		for _, method := range []string{"GET", "POST"} {
			r := &http.Request{Method: method, URL: urlT{Path: path, RawQuery: query}.u(), Header: http.Header{"H": {header}}}
			if header == "two" {
				r.Header["H"] = []string{"v", "w"}
			}
			h := NormalizeHost(host)
			m, ok := tbl.Route(r, h)
			want := refRoute(l, r, h)
			checkExplain(t, tbl, r, h, m, ok)
			switch {
			case ok != (want != nil):
				t.Fatalf("%s %q%q: routed %v, reference %v\nlistener %+v", method, h, path, ok, want != nil, l)
			case !ok:
				continue
			case m.Route != want.route || m.RuleIndex != want.rule || m.Prefix != want.prefix:
				t.Fatalf("%s %q%q: routed to %s rule %d prefix %q, reference %s rule %d prefix %q\nlistener %+v", method, h, path, m.Route.Name, m.RuleIndex, m.Prefix, want.route.Name, want.rule, want.prefix, l)
			}
		}
	})
}

// checkExplain fails unless Explain's first holding candidate is the
// match Route returned (m, ok), and every other candidate's mismatch is
// real.
func checkExplain(t *testing.T, tbl *Table[string], r *http.Request, host string, m Match[string], ok bool) {
	t.Helper()
	for _, c := range tbl.Explain(r, host) {
		if c.Mismatch != "" {
			continue
		}
		if !ok || c.Route != m.Route || c.RuleIndex != m.RuleIndex || c.Prefix != m.Prefix {
			t.Fatalf("Explain's winner %s rule %d prefix %q, Route's %v (found %v)", c.Route.Name, c.RuleIndex, c.Prefix, m, ok)
		}
		return
	}
	if ok {
		t.Fatalf("Explain has no winner, Route matched %s rule %d", m.Route.Name, m.RuleIndex)
	}
}
