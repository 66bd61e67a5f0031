// Package router compiles the HTTP routes of a listener into a matcher that
// applies the Gateway API precedence rules exactly:
//
//  1. hostname: routes of the most specific matching hostname first (exact,
//     then longer wildcards, then routes without hostnames); a request that
//     matches no rule of a more specific hostname falls through to less
//     specific ones. Routes whose hostnames narrowed by the listener's come
//     out the same rank by the hostname configured on the route, with the
//     same order (GatewayRouteHostnameIntersectionPrecedence): on listener
//     abc.example.com a route for abc.example.com goes before one for
//     *.example.com, and that before a route without hostnames;
//  2. within a hostname: Exact path, then the longest PathPrefix (which
//     matches whole segments), then RegularExpression paths;
//  3. then matches with a method, then more header matches, then more query
//     matches;
//  4. then the oldest route (creation timestamp), then namespace/name in
//     alphabetical order, then rule and match order within the route.
//
// Matching is a linear scan of a pre-sorted list per hostname, so the first
// hit is the winner.
package router

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// Match is the outcome of routing a request.
type Match[T any] struct {
	// Value is what the build callback returned for the matched rule.
	Value T
	// Route and RuleIndex identify the matched rule.
	Route     *config.HTTPRoute
	RuleIndex int
	// Prefix is the normalized PathPrefix that matched ("" for Exact and
	// RegularExpression matches); ReplacePrefixMatch rewrites replace it.
	Prefix string
}

// Table routes requests for one listener.
type Table[T any] struct {
	hosts HostIndex[[]*entry[T]]
}

type pathKind int

const (
	pathExact pathKind = iota
	pathPrefix
	pathRegex
)

type entry[T any] struct {
	value     T
	route     *config.HTTPRoute
	ruleIndex int
	// order key
	host       hostRank // of the route hostname this entry was filed under
	kind       pathKind
	pathLen    int
	hasMethod  bool
	headerN    int
	queryN     int
	matchIndex int

	path    string
	pathRE  *regexp.Regexp
	method  string
	headers []valueMatcher
	queries []valueMatcher
}

type valueMatcher struct {
	name  string // canonical header name, or query key
	exact string
	re    *regexp.Regexp
}

func (m *valueMatcher) matches(v string, ok bool) bool {
	if !ok {
		return false
	}
	if m.re != nil {
		return m.re.MatchString(v)
	}
	return v == m.exact
}

// Build compiles a listener's HTTP routes. build is called once per rule
// and its result is returned in Match.Value; an error from build aborts the
// compilation. The config must have passed Validate.
func Build[T any](l *config.Listener, build func(route *config.HTTPRoute, ruleIndex int) (T, error)) (*Table[T], error) {
	t := &Table[T]{}
	for ri := range l.HTTPRoutes {
		route := &l.HTTPRoutes[ri]
		hosts := effectiveHostnames(l.Hostname, route.Hostnames)
		if len(hosts) == 0 {
			continue // no hostname in common with the listener: never matched
		}
		for ruleIdx := range route.Rules {
			v, err := build(route, ruleIdx)
			if err != nil {
				return nil, fmt.Errorf("route %s rule %d: %w", route.EffectiveKey(), ruleIdx, err)
			}
			entries, err := compileRule(route, ruleIdx, v)
			if err != nil {
				return nil, fmt.Errorf("route %s rule %d: %w", route.EffectiveKey(), ruleIdx, err)
			}
			for i, h := range hosts {
				es := entries
				if i > 0 && h.rank != hosts[0].rank {
					// Filed under another rank: the entries need their own copy.
					es = make([]*entry[T], len(entries))
					for j, e := range entries {
						c := *e
						es[j] = &c
					}
				}
				for _, e := range es {
					e.host = h.rank
				}
				cur, _ := t.hosts.Get(h.name)
				t.hosts.Add(h.name, append(cur, es...))
			}
		}
	}
	sortAll(&t.hosts)
	return t, nil
}

func sortAll[T any](h *HostIndex[[]*entry[T]]) {
	sortEntries(h.catchAll)
	for _, v := range h.exact {
		sortEntries(v)
	}
	for _, w := range h.wildcards {
		sortEntries(w.value)
	}
}

// hostRank is how specific a hostname configured on a route is: exact names
// before wildcards, longer before shorter; a route without hostnames has the
// zero rank, the least specific.
type hostRank struct {
	exact  bool
	length int
}

func rankOf(h string) hostRank {
	return hostRank{exact: !strings.HasPrefix(h, "*."), length: len(h)}
}

// before says whether a is more specific than b.
func (a hostRank) before(b hostRank) bool {
	if a.exact != b.exact {
		return a.exact
	}
	return a.length > b.length
}

// filedHost is a hostname a route is matched under and the rank of the route
// hostname it came from.
type filedHost struct {
	name string
	rank hostRank
}

// effectiveHostnames narrows a route's hostnames by the listener hostname,
// deduplicated; when two route hostnames narrow to the same name, the more
// specific one's rank is kept. "" stands for "any host".
func effectiveHostnames(listener string, route []string) []filedHost {
	if len(route) == 0 {
		return []filedHost{{name: listener}}
	}
	var out []filedHost
	for _, h := range route {
		x, ok := Intersect(listener, h)
		if !ok {
			continue
		}
		r, dup := rankOf(h), false
		for i := range out {
			if out[i].name == x {
				dup = true
				if r.before(out[i].rank) {
					out[i].rank = r
				}
				break
			}
		}
		if !dup {
			out = append(out, filedHost{name: x, rank: r})
		}
	}
	return out
}

// NormalizePrefix drops a trailing "/" (but keeps "/"), because the Gateway
// API treats "/foo/" and "/foo" as the same prefix.
func NormalizePrefix(p string) string {
	if len(p) > 1 {
		return strings.TrimRight(p, "/")
	}
	return p
}

// PrefixMatches reports whether a normalized prefix matches path on segment
// boundaries: "/foo" matches "/foo" and "/foo/bar", not "/foobar".
func PrefixMatches(prefix, path string) bool {
	if prefix == "/" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// CleanPath resolves dot segments and repeated slashes ("/public/../admin",
// "//admin") in a decoded URL path, keeping a trailing slash, so that the
// path routes match is the path the backend acts on. A path without them
// is returned as is.
func CleanPath(p string) string {
	if !strings.Contains(p, "/.") && !strings.Contains(p, "//") {
		return p
	}
	clean := path.Clean(p)
	if clean == "." {
		clean = "/"
	}
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, "/") {
		clean = "/" + clean
	}
	return clean
}

func anchored(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

func compileRule[T any](route *config.HTTPRoute, ruleIdx int, v T) ([]*entry[T], error) {
	rule := &route.Rules[ruleIdx]
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []config.HTTPRouteMatch{{}}
	}
	out := make([]*entry[T], 0, len(matches))
	for mi := range matches {
		m := &matches[mi]
		e := &entry[T]{value: v, route: route, ruleIndex: ruleIdx, matchIndex: mi, method: m.Method, hasMethod: m.Method != ""}
		pm := config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/"}
		if m.Path != nil {
			pm = *m.Path
		}
		switch pm.Type {
		case config.PathMatchExact:
			e.kind, e.path = pathExact, pm.Value
		case config.PathMatchRegularExpression:
			re, err := anchored(pm.Value)
			if err != nil {
				return nil, fmt.Errorf("path regex: %w", err)
			}
			e.kind, e.pathRE = pathRegex, re
		default:
			e.kind, e.path = pathPrefix, NormalizePrefix(pm.Value)
		}
		e.pathLen = len(e.path)
		for _, h := range m.Headers {
			vm := valueMatcher{name: http.CanonicalHeaderKey(h.Name), exact: h.Value}
			if h.Type == config.MatchRegularExpression {
				re, err := anchored(h.Value)
				if err != nil {
					return nil, fmt.Errorf("header %s regex: %w", h.Name, err)
				}
				vm.re = re
			}
			e.headers = append(e.headers, vm)
		}
		for _, q := range m.QueryParams {
			vm := valueMatcher{name: q.Name, exact: q.Value}
			if q.Type == config.MatchRegularExpression {
				re, err := anchored(q.Value)
				if err != nil {
					return nil, fmt.Errorf("query %s regex: %w", q.Name, err)
				}
				vm.re = re
			}
			e.queries = append(e.queries, vm)
		}
		e.headerN, e.queryN = len(e.headers), len(e.queries)
		out = append(out, e)
	}
	return out, nil
}

// sortEntries orders entries by Gateway API precedence; see the package doc.
func sortEntries[T any](es []*entry[T]) {
	sort.SliceStable(es, func(i, j int) bool { return less(es[i], es[j]) })
}

func less[T any](a, b *entry[T]) bool {
	if a.host != b.host {
		return a.host.before(b.host)
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if a.kind != pathRegex && a.pathLen != b.pathLen {
		return a.pathLen > b.pathLen
	}
	if a.hasMethod != b.hasMethod {
		return a.hasMethod
	}
	if a.headerN != b.headerN {
		return a.headerN > b.headerN
	}
	if a.queryN != b.queryN {
		return a.queryN > b.queryN
	}
	if a.route != b.route {
		at, bt := a.route.CreationTimestamp, b.route.CreationTimestamp
		if !at.Equal(bt) {
			return at.Before(bt)
		}
		if a.route.Namespace != b.route.Namespace {
			return a.route.Namespace < b.route.Namespace
		}
		if a.route.Name != b.route.Name {
			return a.route.Name < b.route.Name
		}
	}
	if a.ruleIndex != b.ruleIndex {
		return a.ruleIndex < b.ruleIndex
	}
	return a.matchIndex < b.matchIndex
}

// Route finds the rule for a request. host must be normalized (see
// NormalizeHost); the path is the request's decoded URL path.
func (t *Table[T]) Route(r *http.Request, host string) (Match[T], bool) {
	var query url.Values // parsed lazily, once
	for entries := range t.hosts.Matches(host) {
		for _, e := range entries {
			if !e.matchPath(r.URL.Path) {
				continue
			}
			if e.method != "" && e.method != r.Method {
				continue
			}
			if !e.matchHeaders(r.Header) {
				continue
			}
			if len(e.queries) > 0 {
				if query == nil {
					query = r.URL.Query()
				}
				if !e.matchQuery(query) {
					continue
				}
			}
			m := Match[T]{Value: e.value, Route: e.route, RuleIndex: e.ruleIndex}
			if e.kind == pathPrefix {
				m.Prefix = e.path
			}
			return m, true
		}
	}
	return Match[T]{}, false
}

func (e *entry[T]) matchPath(p string) bool {
	switch e.kind {
	case pathExact:
		return p == e.path
	case pathPrefix:
		return PrefixMatches(e.path, p)
	default:
		return e.pathRE.MatchString(p)
	}
}

func (e *entry[T]) matchHeaders(h http.Header) bool {
	for i := range e.headers {
		m := &e.headers[i]
		vs := h[m.name]
		var v string
		switch len(vs) {
		case 0:
			return false
		case 1:
			v = vs[0]
		default:
			// Repeated headers are compared as one comma-joined value,
			// as an HTTP intermediary would fold them.
			v = strings.Join(vs, ",")
		}
		if !m.matches(v, true) {
			return false
		}
	}
	return true
}

func (e *entry[T]) matchQuery(q url.Values) bool {
	for i := range e.queries {
		m := &e.queries[i]
		vs, ok := q[m.name]
		if !ok || len(vs) == 0 {
			return false
		}
		// The Gateway API says the first value of a repeated parameter
		// is the one matched.
		if !m.matches(vs[0], true) {
			return false
		}
	}
	return true
}

// Candidate is one match of a rule as Route tries it for a request, and
// what became of it.
type Candidate struct {
	Route      *config.HTTPRoute
	RuleIndex  int
	MatchIndex int
	// Hostname is the hostname (narrowed by the listener's) the match is
	// filed under; "" for any host.
	Hostname string
	// Mismatch names the first condition the request failed ("path",
	// "method", "header <Name>", "query <name>"); "" when every
	// condition held.
	Mismatch string
	// Prefix is the normalized PathPrefix ("" for Exact and
	// RegularExpression matches).
	Prefix string
}

// Explain lists every match Route considers for a request, in the order
// Route tries them (Gateway API precedence). The first Candidate without
// a Mismatch is the one Route returns; matches after it that hold too lost
// on precedence. It reads the table only.
func (t *Table[T]) Explain(r *http.Request, host string) []Candidate {
	var out []Candidate
	var query url.Values
	for name, entries := range t.hosts.MatchesNamed(host) {
		for _, e := range entries {
			c := Candidate{Route: e.route, RuleIndex: e.ruleIndex, MatchIndex: e.matchIndex, Hostname: name}
			if e.kind == pathPrefix {
				c.Prefix = e.path
			}
			switch {
			case !e.matchPath(r.URL.Path):
				c.Mismatch = "path"
			case e.method != "" && e.method != r.Method:
				c.Mismatch = "method"
			default:
				if h := e.failedHeader(r.Header); h != "" {
					c.Mismatch = "header " + h
				} else if len(e.queries) > 0 {
					if query == nil {
						query = r.URL.Query()
					}
					if q := e.failedQuery(query); q != "" {
						c.Mismatch = "query " + q
					}
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// failedHeader returns the name of the first header match r fails, "" when
// it passes all of them (matchHeaders).
func (e *entry[T]) failedHeader(h http.Header) string {
	for i := range e.headers {
		one := entry[T]{headers: e.headers[i : i+1]}
		if !one.matchHeaders(h) {
			return e.headers[i].name
		}
	}
	return ""
}

// failedQuery returns the name of the first query match q fails, "" when
// it passes all of them (matchQuery).
func (e *entry[T]) failedQuery(q url.Values) string {
	for i := range e.queries {
		one := entry[T]{queries: e.queries[i : i+1]}
		if !one.matchQuery(q) {
			return e.queries[i].name
		}
	}
	return ""
}
