package router

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func route(ns, name string, age int, hosts []string, rules ...config.HTTPRouteRule) config.HTTPRoute {
	return config.HTTPRoute{
		RouteMeta: config.RouteMeta{Namespace: ns, Name: name, CreationTimestamp: t0.Add(time.Duration(age) * time.Hour)},
		Hostnames: hosts,
		Rules:     rules,
	}
}

func rule(matches ...config.HTTPRouteMatch) config.HTTPRouteRule {
	return config.HTTPRouteRule{Matches: matches}
}

func prefix(p string) *config.PathMatch {
	return &config.PathMatch{Type: config.PathMatchPathPrefix, Value: p}
}
func exact(p string) *config.PathMatch {
	return &config.PathMatch{Type: config.PathMatchExact, Value: p}
}
func regex(p string) *config.PathMatch {
	return &config.PathMatch{Type: config.PathMatchRegularExpression, Value: p}
}

func build(t testing.TB, l *config.Listener) *Table[string] {
	t.Helper()
	tbl, err := Build(l, func(r *config.HTTPRoute, i int) (string, error) {
		return fmt.Sprintf("%s/%s#%d", r.Namespace, r.Name, i), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

type req struct {
	method, host, target string
	headers              map[string]string
}

func (q req) http() *http.Request {
	m := q.method
	if m == "" {
		m = http.MethodGet
	}
	r := httptest.NewRequest(m, q.target, nil)
	for k, v := range q.headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestPrecedence(t *testing.T) {
	l := &config.Listener{
		Name:     "l",
		Hostname: "*.example.com",
		HTTPRoutes: []config.HTTPRoute{
			route("ns", "prefix-short", 0, nil, rule(config.HTTPRouteMatch{Path: prefix("/")})),
			route("ns", "prefix-foo", 5, nil, rule(config.HTTPRouteMatch{Path: prefix("/foo/")})),
			route("ns", "prefix-foo-bar", 5, nil, rule(config.HTTPRouteMatch{Path: prefix("/foo/bar")})),
			route("ns", "exact-foo", 9, nil, rule(config.HTTPRouteMatch{Path: exact("/foo")})),
			route("ns", "regex", 0, nil, rule(config.HTTPRouteMatch{Path: regex("/foo/b.*")})),
			// Same prefix: method beats headers, headers beat queries.
			route("ns", "method", 9, nil, rule(config.HTTPRouteMatch{Path: prefix("/m"), Method: "POST"})),
			route("ns", "headers2", 9, nil, rule(config.HTTPRouteMatch{Path: prefix("/m"), Headers: []config.HeaderMatch{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}}})),
			route("ns", "headers1", 9, nil, rule(config.HTTPRouteMatch{Path: prefix("/m"), Headers: []config.HeaderMatch{{Name: "a", Value: "1"}}})),
			route("ns", "query", 9, nil, rule(config.HTTPRouteMatch{Path: prefix("/m"), QueryParams: []config.QueryParamMatch{{Name: "q", Value: "1"}}})),
			// Full tie: older route wins, then namespace/name.
			route("ns", "tie-young", 2, nil, rule(config.HTTPRouteMatch{Path: prefix("/tie")})),
			route("ns", "tie-old", 1, nil, rule(config.HTTPRouteMatch{Path: prefix("/tie")})),
			route("b", "alpha", 7, nil, rule(config.HTTPRouteMatch{Path: prefix("/alpha")})),
			route("a", "zulu", 7, nil, rule(config.HTTPRouteMatch{Path: prefix("/alpha")})),
			// Rule order inside a route breaks the last tie.
			route("ns", "rules", 0, nil,
				rule(config.HTTPRouteMatch{Path: prefix("/r")}),
				rule(config.HTTPRouteMatch{Path: prefix("/r")})),
			// Hostname specificity: exact host beats the wildcard listener.
			route("ns", "exact-host", 99, []string{"api.example.com"}, rule(config.HTTPRouteMatch{Path: prefix("/")})),
			route("ns", "deeper-wildcard", 99, []string{"*.eu.example.com"}, rule(config.HTTPRouteMatch{Path: prefix("/")})),
			route("ns", "exact-host-only-x", 0, []string{"x.example.com"}, rule(config.HTTPRouteMatch{Path: exact("/only-x")})),
			// Hostnames outside the listener are ignored entirely.
			route("ns", "other-domain", 0, []string{"example.org"}, rule()),
		},
	}
	tbl := build(t, l)
	cases := []struct {
		req  req
		want string
	}{
		{req{host: "a.example.com", target: "/"}, "ns/prefix-short#0"},
		{req{host: "a.example.com", target: "/foo"}, "ns/exact-foo#0"},
		{req{host: "a.example.com", target: "/foo/"}, "ns/prefix-foo#0"},
		{req{host: "a.example.com", target: "/foo/x"}, "ns/prefix-foo#0"},
		{req{host: "a.example.com", target: "/foo/bar"}, "ns/prefix-foo-bar#0"},
		{req{host: "a.example.com", target: "/foo/bar/baz"}, "ns/prefix-foo-bar#0"},
		{req{host: "a.example.com", target: "/foo/barbaz"}, "ns/prefix-foo#0"}, // segment-aware
		{req{host: "a.example.com", target: "/foobar"}, "ns/prefix-short#0"},
		{req{method: "POST", host: "a.example.com", target: "/m?q=1", headers: map[string]string{"a": "1", "b": "2"}}, "ns/method#0"},
		{req{host: "a.example.com", target: "/m?q=1", headers: map[string]string{"a": "1", "b": "2"}}, "ns/headers2#0"},
		{req{host: "a.example.com", target: "/m?q=1", headers: map[string]string{"A": "1"}}, "ns/headers1#0"},
		{req{host: "a.example.com", target: "/m?q=1"}, "ns/query#0"},
		{req{host: "a.example.com", target: "/m?q=2"}, "ns/prefix-short#0"},
		{req{host: "a.example.com", target: "/tie"}, "ns/tie-old#0"},
		{req{host: "a.example.com", target: "/alpha"}, "a/zulu#0"},
		{req{host: "a.example.com", target: "/r"}, "ns/rules#0"},
		{req{host: "API.example.com.", target: "/foo"}, "ns/exact-host#0"},
		{req{host: "api.example.com:8080", target: "/foo"}, "ns/exact-host#0"},
		{req{host: "a.eu.example.com", target: "/foo"}, "ns/deeper-wildcard#0"},
		// A more specific hostname with no matching rule falls through.
		{req{host: "x.example.com", target: "/foo"}, "ns/exact-foo#0"},
		{req{host: "x.example.com", target: "/only-x"}, "ns/exact-host-only-x#0"},
		{req{host: "example.org", target: "/"}, ""},
		{req{host: "example.com", target: "/"}, ""}, // wildcard needs a label
	}
	for _, c := range cases {
		r := c.req.http()
		m, ok := tbl.Route(r, NormalizeHost(c.req.host))
		checkExplain(t, tbl, r, NormalizeHost(c.req.host), m, ok)
		got := ""
		if ok {
			got = m.Value
		}
		if got != c.want {
			t.Errorf("%s %s%s: got %q, want %q", r.Method, c.req.host, c.req.target, got, c.want)
		}
	}
}

// TestHostnameIntersectionPrecedence: routes whose hostnames narrow to the same name on a
// listener rank by the hostname configured on the route before anything else (the cases of
// the upstream HTTPRouteMultipleRoutesAttachmentSameHostnameIntersection test).
func TestHostnameIntersectionPrecedence(t *testing.T) {
	hdr := func(name, value string) []config.HeaderMatch { return []config.HeaderMatch{{Name: name, Value: value}} }
	exactListener := &config.Listener{Name: "exact", Hostname: "abc.example.com", HTTPRoutes: []config.HTTPRoute{
		route("ns", "wc-older", 0, []string{"*.example.com"},
			rule(config.HTTPRouteMatch{Path: prefix("/path/prefix"), Headers: hdr("Header-B", "B")}),
			rule(config.HTTPRouteMatch{Path: prefix("/wc-only")})),
		route("ns", "exact-newer", 1, []string{"abc.example.com"}, rule(config.HTTPRouteMatch{Path: prefix("/path"), Headers: hdr("Header-A", "A")})),
		route("ns", "no-hostnames-oldest", -1, nil, rule(config.HTTPRouteMatch{Path: prefix("/path/prefix/longer")})),
	}}
	wcListener := &config.Listener{Name: "wc", Hostname: "*.example.com", HTTPRoutes: []config.HTTPRoute{
		route("ns", "com-older", 0, []string{"*.com"}, rule(config.HTTPRouteMatch{Path: prefix("/path/prefix")})),
		route("ns", "example-newer", 1, []string{"*.example.com"}, rule(config.HTTPRouteMatch{Path: prefix("/path")})),
	}}
	cases := []struct {
		l    *config.Listener
		req  req
		want string
	}{
		// Exact route hostname beats the older wildcard one and its longer prefix.
		{exactListener, req{host: "abc.example.com", target: "/path/prefix/longer", headers: map[string]string{"Header-A": "A", "Header-B": "B"}}, "ns/exact-newer#0"},
		// What the exact route does not match falls to the wildcard route, then to the
		// route without hostnames (least specific, though the oldest with the longest prefix).
		{exactListener, req{host: "abc.example.com", target: "/path/prefix/longer", headers: map[string]string{"Header-B": "B"}}, "ns/wc-older#0"},
		{exactListener, req{host: "abc.example.com", target: "/wc-only"}, "ns/wc-older#1"},
		{exactListener, req{host: "abc.example.com", target: "/path/prefix/longer"}, "ns/no-hostnames-oldest#0"},
		{exactListener, req{host: "xyz.example.com", target: "/path"}, ""},
		// The longer wildcard beats the shorter, older one with a longer prefix.
		{wcListener, req{host: "abc.example.com", target: "/path/prefix/longer"}, "ns/example-newer#0"},
		{wcListener, req{host: "abc.example.com", target: "/other"}, ""},
	}
	for _, c := range cases {
		tbl := build(t, c.l)
		r := c.req.http()
		m, ok := tbl.Route(r, NormalizeHost(c.req.host))
		checkExplain(t, tbl, r, NormalizeHost(c.req.host), m, ok)
		got := ""
		if ok {
			got = m.Value
		}
		if got != c.want {
			t.Errorf("listener %s: %s%s %v: got %q, want %q", c.l.Hostname, c.req.host, c.req.target, c.req.headers, got, c.want)
		}
	}
}

func TestRegexAndMatchDetails(t *testing.T) {
	l := &config.Listener{HTTPRoutes: []config.HTTPRoute{
		route("ns", "re", 0, nil, rule(config.HTTPRouteMatch{
			Path:        regex("/v[0-9]+/items"),
			Headers:     []config.HeaderMatch{{Type: config.MatchRegularExpression, Name: "x-id", Value: "[a-f]+"}},
			QueryParams: []config.QueryParamMatch{{Type: config.MatchRegularExpression, Name: "page", Value: "[0-9]"}},
		})),
		route("ns", "prefix", 0, nil, rule(config.HTTPRouteMatch{Path: prefix("/api/")})),
	}}
	tbl := build(t, l)
	cases := []struct {
		req        req
		want, pref string
	}{
		{req{target: "/v12/items?page=3", headers: map[string]string{"x-id": "abc"}}, "ns/re#0", ""},
		{req{target: "/v12/items/x?page=3", headers: map[string]string{"x-id": "abc"}}, "", ""}, // regex is anchored
		{req{target: "/v12/items?page=3", headers: map[string]string{"x-id": "abcz"}}, "", ""},
		{req{target: "/v12/items?page=3&page=x", headers: map[string]string{"x-id": "ab"}}, "ns/re#0", ""}, // first value
		{req{target: "/v12/items?page=x&page=3", headers: map[string]string{"x-id": "ab"}}, "", ""},
		{req{target: "/api"}, "ns/prefix#0", "/api"},
		{req{target: "/api/x"}, "ns/prefix#0", "/api"},
	}
	for _, c := range cases {
		m, ok := tbl.Route(c.req.http(), "h")
		if ok != (c.want != "") || ok && (m.Value != c.want || m.Prefix != c.pref) {
			t.Errorf("%s: got %q (prefix %q, ok %v), want %q (prefix %q)", c.req.target, m.Value, m.Prefix, ok, c.want, c.pref)
		}
	}
}

func TestIntersect(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"", "a.com", "a.com"},
		{"*.a.com", "", "*.a.com"},
		{"x.a.com", "x.a.com", "x.a.com"},
		{"x.a.com", "y.a.com", "-"},
		{"*.a.com", "x.a.com", "x.a.com"},
		{"*.a.com", "a.com", "-"},
		{"*.a.com", "*.b.a.com", "*.b.a.com"},
		{"*.com", "*.a.com", "*.a.com"},
		{"*.a.com", "*.b.com", "-"},
	}
	for _, c := range cases {
		got, ok := Intersect(c.a, c.b)
		if !ok {
			got = "-"
		}
		if got != c.want {
			t.Errorf("Intersect(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

func TestHostIndexOrder(t *testing.T) {
	var h HostIndex[string]
	h.Add("", "any")
	h.Add("*.com", "star-com")
	h.Add("*.example.com", "star-example")
	h.Add("www.example.com", "www")
	var got []string
	for v := range h.Matches("www.example.com") {
		got = append(got, v)
	}
	if strings.Join(got, ",") != "www,star-example,star-com,any" {
		t.Fatalf("order: %v", got)
	}
	if v, _ := h.Lookup("example.com"); v != "star-com" {
		t.Fatalf("example.com -> %q", v)
	}
}

// FuzzRoute checks that routing arbitrary paths, hosts and headers never
// panics and that a match really satisfies its path condition.
func FuzzRoute(f *testing.F) {
	l := &config.Listener{Hostname: "*.example.com", HTTPRoutes: []config.HTTPRoute{
		route("ns", "a", 0, nil, rule(config.HTTPRouteMatch{Path: prefix("/foo")})),
		route("ns", "b", 0, []string{"x.example.com"}, rule(config.HTTPRouteMatch{Path: exact("/x")})),
		route("ns", "c", 0, nil, rule(config.HTTPRouteMatch{Path: regex("/r/[a-z]+"), Headers: []config.HeaderMatch{{Name: "h", Value: "v"}}})),
		route("ns", "d", 0, nil, rule(config.HTTPRouteMatch{Path: prefix("/"), QueryParams: []config.QueryParamMatch{{Name: "q", Value: "1"}}})),
	}}
	tbl := build(f, l)
	for _, s := range []struct{ host, path, query, header string }{
		{"a.example.com", "/foo", "", ""},
		{"x.example.com", "/x", "q=1", "v"},
		{"X.EXAMPLE.COM.", "/foobar", "q=%zz", ""},
		{"[::1]:80", "/r/abc", "", "v"},
		{"", "", "", ""},
	} {
		f.Add(s.host, s.path, s.query, s.header)
	}
	f.Fuzz(func(t *testing.T, host, path, query, header string) {
		r := &http.Request{Method: "GET", URL: urlT{Path: path, RawQuery: query}.u(), Header: http.Header{"H": {header}}}
		m, ok := tbl.Route(r, NormalizeHost(host))
		if !ok {
			return
		}
		switch m.Route.Name {
		case "a":
			if !PrefixMatches("/foo", path) {
				t.Fatalf("route a matched path %q", path)
			}
		case "b":
			if path != "/x" {
				t.Fatalf("route b matched path %q", path)
			}
		case "c":
			if header != "v" {
				t.Fatalf("route c matched header %q", header)
			}
		}
	})
}

// TestExplainCandidates checks what Explain says of each match: the
// failed condition, or none, in Route's order.
func TestExplainCandidates(t *testing.T) {
	l := &config.Listener{HTTPRoutes: []config.HTTPRoute{
		route("ns", "hdr", 0, []string{"a.example.com"}, rule(config.HTTPRouteMatch{Path: prefix("/api"), Headers: []config.HeaderMatch{{Name: "x-env", Value: "canary"}}})),
		route("ns", "any", 1, nil, rule(config.HTTPRouteMatch{Path: prefix("/api")}), rule(config.HTTPRouteMatch{Path: exact("/x"), Method: "POST"})),
	}}
	tbl := build(t, l)
	type cand struct{ name, host, mismatch string }
	for _, c := range []struct {
		headers http.Header
		path    string
		want    []cand
	}{
		{http.Header{"X-Env": {"canary"}}, "/api/v1", []cand{{"ns/hdr", "a.example.com", ""}, {"ns/any", "", "path"}, {"ns/any", "", ""}}},
		{http.Header{"X-Env": {"prod"}}, "/api/v1", []cand{{"ns/hdr", "a.example.com", "header X-Env"}, {"ns/any", "", "path"}, {"ns/any", "", ""}}},
		{nil, "/x", []cand{{"ns/hdr", "a.example.com", "path"}, {"ns/any", "", "method"}, {"ns/any", "", "path"}}},
	} {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: c.path}, Header: c.headers}
		var got []cand
		for _, x := range tbl.Explain(r, "a.example.com") {
			got = append(got, cand{x.Route.Namespace + "/" + x.Route.Name, x.Hostname, x.Mismatch})
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s %v: got %v, want %v", c.path, c.headers, got, c.want)
		}
		m, ok := tbl.Route(r, "a.example.com")
		checkExplain(t, tbl, r, "a.example.com", m, ok)
	}
}
