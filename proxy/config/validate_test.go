package config

import (
	"math/rand"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// validNameInputs are strings around the edges of the header-name and method syntax: every
// byte alone and in pairs, common names, Unicode and invalid UTF-8, and random strings over
// an alphabet that mixes token and non-token bytes.
func validNameInputs() []string {
	in := []string{"", "x-request-id", "Content-Type", "GET", "get", "PATCH", "x\n", "\nx", "a b", "é", "\xff", "a\x00", "ÄB", "GET\n", "x-ü"}
	for c := 0; c < 256; c++ {
		in = append(in, string(rune(c)), string([]byte{byte(c)}))
		for d := 0; d < 256; d += 3 {
			in = append(in, string([]byte{byte(c), byte(d)}))
		}
	}
	r := rand.New(rand.NewSource(1))
	const alphabet = "aZ09!#$%&'*+-.^_`|~ \t\n\r:;,/\"()<>@[]{}?=\\\x00\x7f\x80\xc3\xa9\xff"
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.Intn(12))
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		in = append(in, string(b))
	}
	return in
}

// The hand-written checks replaced these regular expressions; they must accept exactly the
// same strings.
func TestValidHeaderNameMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
	for _, s := range validNameInputs() {
		if got, want := validHeaderName(s), re.MatchString(s); got != want {
			t.Errorf("validHeaderName(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

func TestValidMethodMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Z]+$`)
	for _, s := range validNameInputs() {
		if got, want := validMethod(s), re.MatchString(s); got != want {
			t.Errorf("validMethod(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

// mayBeIP may only skip strings net.ParseIP rejects.
func TestMayBeIPCoversParseIP(t *testing.T) {
	in := []string{"1.2.3.4", "::1", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3", "01.2.3.4", "a.b", "1.example.com", "1e1.2.3.4", "", ".", "%", "1.2.3.4%x"}
	in = append(in, validNameInputs()...)
	r := rand.New(rand.NewSource(2))
	const alphabet = "0123456789.:abcdef%x"
	for i := 0; i < 50000; i++ {
		b := make([]byte, r.Intn(16))
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		in = append(in, string(b))
	}
	for _, s := range in {
		if !mayBeIP(s) && net.ParseIP(s) != nil {
			t.Errorf("mayBeIP(%q) = false, but it parses as an IP", s)
		}
	}
}

// TestValidationPaths checks that problems deep in a config carry their full field path,
// and that checking one part does not leave its path behind for the next.
func TestValidationPaths(t *testing.T) {
	c := &Config{
		Version:  "1",
		Backends: []Backend{{Name: "b", Endpoints: []Endpoint{{Address: "1.2.3.4:80"}, {Address: "nope"}}}},
		Binds: []Bind{{Name: "a", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, HTTPRoutes: []HTTPRoute{
			{RouteMeta: RouteMeta{Namespace: "n", Name: "ok"}, Rules: []HTTPRouteRule{{}}},
			{RouteMeta: RouteMeta{Namespace: "n", Name: "bad"}, Hostnames: []string{"a.com", "A.com"}, Rules: []HTTPRouteRule{{}, {
				Matches:     []HTTPRouteMatch{{Method: "get", Headers: []HeaderMatch{{Name: "ok"}, {Name: "bad name"}}}},
				Filters:     []HTTPFilter{{RequestHeaderModifier: &HeaderModifier{Add: []HTTPHeader{{Name: "x"}, {Name: "(y)"}}}}, {}},
				BackendRefs: []BackendRef{{Backend: "b"}, {Backend: "c", Filters: []HTTPFilter{{CORS: &CORS{}}}}},
			}}},
		}}}}},
	}
	err := c.Validate()
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("got %v", err)
	}
	want := []string{
		"backends[0].endpoints[1].address",
		"binds[0].listeners[0].httpRoutes[1].hostnames[1]",
		"binds[0].listeners[0].httpRoutes[1].rules[1].matches[0].headers[1].name",
		"binds[0].listeners[0].httpRoutes[1].rules[1].matches[0].method",
		"binds[0].listeners[0].httpRoutes[1].rules[1].filters[0].requestHeaderModifier.add[1].name",
		"binds[0].listeners[0].httpRoutes[1].rules[1].filters[1]",
		"binds[0].listeners[0].httpRoutes[1].rules[1].backendRefs[1].backend",
		"binds[0].listeners[0].httpRoutes[1].rules[1].backendRefs[1].filters[0]",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, e := range errs {
		if e.Path != want[i] {
			t.Errorf("error %d: path %q, want %q (%s)", i, e.Path, want[i], e.Msg)
		}
	}
}

// ValidateExcept skips the contents of the routes the caller knows, and nothing else: their
// keys still collide with other routes', and other routes are checked in full.
func TestValidateExcept(t *testing.T) {
	bad := HTTPRoute{RouteMeta: RouteMeta{Namespace: "n", Name: "bad"}, Hostnames: []string{"A.com"}}
	c := &Config{
		Version: "1",
		Binds: []Bind{{Name: "a", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, HTTPRoutes: []HTTPRoute{
			bad, bad, {RouteMeta: RouteMeta{Namespace: "n", Name: "other"}, Hostnames: []string{"B.com"}, Rules: []HTTPRouteRule{{}}},
		}}}}},
	}
	paths := func(err error) []string {
		var out []string
		if errs, ok := err.(Errors); ok {
			for _, e := range errs {
				out = append(out, e.Path)
			}
		}
		return out
	}
	all := []string{
		"binds[0].listeners[0].httpRoutes[0].hostnames[0]",
		"binds[0].listeners[0].httpRoutes[0].rules",
		"binds[0].listeners[0].httpRoutes[1].key",
		"binds[0].listeners[0].httpRoutes[1].hostnames[0]",
		"binds[0].listeners[0].httpRoutes[1].rules",
		"binds[0].listeners[0].httpRoutes[2].hostnames[0]",
	}
	if got := paths(c.Validate()); !slices.Equal(got, all) {
		t.Fatalf("Validate: %q, want %q", got, all)
	}
	if got := paths(c.ValidateExcept(nil)); !slices.Equal(got, all) {
		t.Fatalf("ValidateExcept(nil): %q, want %q", got, all)
	}
	var asked []string
	known := func(bi, li, ri int) bool {
		r := &c.Binds[bi].Listeners[li].HTTPRoutes[ri]
		asked = append(asked, c.Binds[bi].Name+"/"+c.Binds[bi].Listeners[li].Name+"/"+r.Name)
		return r.Name == "bad"
	}
	want := []string{"binds[0].listeners[0].httpRoutes[1].key", "binds[0].listeners[0].httpRoutes[2].hostnames[0]"}
	if got := paths(c.ValidateExcept(known)); !slices.Equal(got, want) {
		t.Fatalf("ValidateExcept: %q, want %q", got, want)
	}
	if !slices.Equal(asked, []string{"a/l/bad", "a/l/bad", "a/l/other"}) {
		t.Fatalf("known was asked about %q", asked)
	}
}

// A config with few backends looks them up without a map; the outcome must not depend on
// how many there are.
func TestBackendLookupFewAndMany(t *testing.T) {
	cfg := func(extra int) *Config {
		c := &Config{
			Version: "1",
			Backends: []Backend{
				{Name: "a", Endpoints: []Endpoint{{Address: "1.2.3.4:80"}}},
				{Name: "a", TLS: &BackendTLS{}},
				{Name: ""},
			},
			Binds: []Bind{{Name: "b", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, HTTPRoutes: []HTTPRoute{{
				RouteMeta: RouteMeta{Namespace: "n", Name: "r"},
				Rules: []HTTPRouteRule{
					{BackendRefs: []BackendRef{{Backend: "a"}, {Backend: "missing"}, {Backend: ""}}},
					{Filters: []HTTPFilter{{RequestMirror: &RequestMirror{Backend: "missing"}}}, Traffic: &TrafficPolicy{ExtAuth: &ExtAuth{Backend: "a", Protocol: ExtAuthGRPC}}},
				},
			}}}}}},
		}
		for i := 0; i < extra; i++ {
			c.Backends = append(c.Backends, Backend{Name: "pad-" + strconv.Itoa(i)})
		}
		return c
	}
	few, many := cfg(0).Validate(), cfg(manyBackends).Validate()
	if few == nil || many == nil || few.Error() != many.Error() {
		t.Fatalf("few backends: %v\nmany backends: %v", few, many)
	}
	for _, want := range []string{`backends[1].name: duplicate backend name "a"`, "backends[2].name: required", `unknown backend "missing"`} {
		if !strings.Contains(few.Error(), want) {
			t.Errorf("missing %q in %v", want, few)
		}
	}
}

// A backendRef may carry a URLRewrite; its ReplacePrefixMatch needs PathPrefix matches and a
// rule that leaves the path alone, and other filters than the header modifiers and URLRewrite
// stay rule-only.
func TestBackendRefURLRewrite(t *testing.T) {
	prefix := []HTTPRouteMatch{{Path: &PathMatch{Type: PathMatchPathPrefix, Value: "/p"}}}
	exact := []HTTPRouteMatch{{Path: &PathMatch{Type: PathMatchExact, Value: "/p"}}}
	full := &URLRewrite{Path: &PathModifier{Type: ReplaceFullPath, ReplaceFullPath: "/f"}}
	pre := &URLRewrite{Path: &PathModifier{Type: ReplacePrefixMatch, ReplacePrefixMatch: "/q"}}
	host := &URLRewrite{Hostname: "internal.example"}
	cases := []struct {
		name    string
		matches []HTTPRouteMatch
		rule    []HTTPFilter
		ref     []HTTPFilter
		want    string // substring of the only error; "" for valid
	}{
		{"prefix on ref", prefix, nil, []HTTPFilter{{URLRewrite: pre}}, ""},
		{"full path on ref", exact, nil, []HTTPFilter{{URLRewrite: full}}, ""},
		{"host on rule, prefix on ref", prefix, []HTTPFilter{{URLRewrite: host}}, []HTTPFilter{{URLRewrite: pre}}, ""},
		{"path on rule, full path on ref", prefix, []HTTPFilter{{URLRewrite: pre}}, []HTTPFilter{{URLRewrite: full}}, ""},
		{"path on rule, prefix on ref", prefix, []HTTPFilter{{URLRewrite: full}}, []HTTPFilter{{URLRewrite: pre}}, "cannot follow the rule's urlRewrite"},
		{"prefix on ref, exact match", exact, nil, []HTTPFilter{{URLRewrite: pre}}, "needs every match of the rule to be a PathPrefix"},
		{"bad hostname on ref", prefix, nil, []HTTPFilter{{URLRewrite: &URLRewrite{Hostname: "*.x"}}}, "must be a DNS name"},
		{"two rewrites on ref", prefix, nil, []HTTPFilter{{URLRewrite: host}, {URLRewrite: full}}, "may appear only once"},
		{"redirect on ref", prefix, nil, []HTTPFilter{{RequestRedirect: &RequestRedirect{Hostname: "x"}}}, "only requestHeaderModifier, responseHeaderModifier and urlRewrite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{
				Version:  "1",
				Backends: []Backend{{Name: "b", Endpoints: []Endpoint{{Address: "1.2.3.4:80"}}}},
				Binds: []Bind{{Name: "a", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, HTTPRoutes: []HTTPRoute{
					{RouteMeta: RouteMeta{Namespace: "n", Name: "r"}, Rules: []HTTPRouteRule{{
						Matches: tc.matches, Filters: tc.rule, BackendRefs: []BackendRef{{Backend: "b", Filters: tc.ref}},
					}}},
				}}}}},
			}
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			errs, ok := err.(Errors)
			if !ok || len(errs) != 1 {
				t.Fatalf("Validate = %v, want one error with %q", err, tc.want)
			}
			if !strings.Contains(errs[0].Msg, tc.want) || !strings.HasPrefix(errs[0].Path, "binds[0].listeners[0].httpRoutes[0].rules[0].backendRefs[0].filters[") {
				t.Errorf("error %s: %s, want %q under backendRefs[0].filters", errs[0].Path, errs[0].Msg, tc.want)
			}
		})
	}
}

// TestValidateSessionCookiePathAndLifetime: a cookie path must be absolute and unable to
// add cookie attributes; a lifetime must be at least a second.
func TestValidateSessionCookiePathAndLifetime(t *testing.T) {
	for _, c := range []struct {
		sp   SessionPersistence
		want string // the field refused, "" for none
	}{
		{SessionPersistence{SessionName: "s", CookiePath: "/api", Lifetime: &Duration{Duration: time.Minute}}, ""},
		{SessionPersistence{SessionName: "s", CookiePath: "api"}, "cookiePath"},
		{SessionPersistence{SessionName: "s", CookiePath: "/a; Domain=evil.example"}, "cookiePath"},
		{SessionPersistence{SessionName: "s", CookiePath: "/a\r\nX: y"}, "cookiePath"},
		{SessionPersistence{Type: SessionPersistenceHeader, SessionName: "s", CookiePath: "/a"}, "cookiePath"},
		{SessionPersistence{SessionName: "s", Lifetime: &Duration{Duration: time.Millisecond}}, "lifetime"},
	} {
		cfg := &Config{Version: "1", Backends: []Backend{{Name: "b", Endpoints: []Endpoint{{Address: "127.0.0.1:80"}}}},
			Binds: []Bind{{Name: "a", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, HTTPRoutes: []HTTPRoute{
				{RouteMeta: RouteMeta{Namespace: "n", Name: "r"}, Rules: []HTTPRouteRule{{BackendRefs: []BackendRef{{Backend: "b"}}, SessionPersistence: &c.sp}}},
			}}}}}}
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.sp, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), ".sessionPersistence."+c.want)):
			t.Errorf("%+v: %v; want %s refused", c.sp, err, c.want)
		}
	}
}
