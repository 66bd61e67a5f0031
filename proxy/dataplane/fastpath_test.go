package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// scriptedBackend answers each request with the raw response named by its
// X-Reply header (see replies) and records the raw request it received.
type scriptedBackend struct {
	addr  string
	mu    sync.Mutex
	heads []string
}

var replies = map[string]string{
	"":         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
	"sniff":    "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n<html><body>x</body>",
	"chunked":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n",
	"empty":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"close":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil close",
	"http10":   "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nten",
	"204":      "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n",
	"304":      "HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nEtag: \"x\"\r\n\r\n",
	"early":    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
	"hop":      "HTTP/1.1 200 OK\r\nConnection: X-Bar, keep-alive\r\nX-Bar: secret\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Keep: yes\r\nContent-Length: 2\r\n\r\nok",
	"nodate":   "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nX-Multi: a\r\nX-Multi: b\r\nset-cookie: a=1\r\n\r\n",
	"odd":      "HTTP/1.1 299 Whatever\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n\r\nx",
	"pragma":   "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
	"both":     "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
	"sse":      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 12\r\n\r\ndata: 1\n\n\n\n\n",
	"badcode":  "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
	"badcl":    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	"badte":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"upgrade":  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n",
	"spacekey": "HTTP/1.1 200 OK\r\nBad Key: 1\r\nContent-Length: 0\r\n\r\n",
	"encoded":  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
	"big":      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("z", 100000),
	"bigchunk": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n", 70000, strings.Repeat("y", 70000)) + "0\r\n\r\n",
}

func startScripted(t *testing.T) *scriptedBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &scriptedBackend{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *scriptedBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head.Bytes())))
		if err != nil {
			return
		}
		body, err := io.ReadAll(io.LimitReader(br, max(req.ContentLength, 0)))
		if err != nil {
			return
		}
		b.mu.Lock()
		b.heads = append(b.heads, head.String()+short(body))
		b.mu.Unlock()
		reply, ok := replies[req.Header.Get("X-Reply")]
		if !ok {
			return
		}
		if req.Method == http.MethodHead {
			if i := strings.Index(reply, "\r\n\r\n"); i >= 0 {
				reply = reply[:i+4]
			}
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
		if strings.Contains(reply, "Connection: close") || strings.HasPrefix(reply, "HTTP/1.0") || strings.HasPrefix(reply, "HTTP/1.1 101") {
			return
		}
	}
}

func (b *scriptedBackend) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.heads) == 0 {
		return ""
	}
	return b.heads[len(b.heads)-1]
}

// exchangeRaw sends raw requests on one connection and returns what came
// back, response by response, normalized for comparison.
func exchangeRaw(t *testing.T, port int, raws ...string) []string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return exchangeConn(t, c, port, raws...)
}

// exchangeConn is exchangeRaw on a connection the caller made.
func exchangeConn(t *testing.T, c net.Conn, port int, raws ...string) []string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []string
	for _, raw := range raws {
		// An empty raw reads the next response of a pipelined GET.
		method := "GET"
		if raw != "" {
			if _, err := io.WriteString(c, raw); err != nil {
				t.Fatal(err)
			}
			method = strings.SplitN(raw, " ", 2)[0]
		}
		var got strings.Builder
		for {
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				got.WriteString("error: " + err.Error())
				break
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Fprintf(&got, "%s %v cl=%d close=%v\n", resp.Status, resp.TransferEncoding, resp.ContentLength, resp.Close)
			writeSorted(&got, resp.Header, "Date")
			fmt.Fprintf(&got, "body %s err=%v\ntrailer:\n", short(body), err)
			writeSorted(&got, resp.Trailer)
			if resp.StatusCode >= 200 || resp.StatusCode == 101 {
				break
			}
		}
		out = append(out, strings.ReplaceAll(got.String(), fmt.Sprintf(":%d", port), ":PORT"))
		if strings.Contains(got.String(), "error") {
			break
		}
	}
	return out
}

func writeSorted(w *strings.Builder, h http.Header, skip ...string) {
	var keys []string
	for k := range h {
		if !contains(skip, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %q\n", k, h[k])
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// twoProxies serves the same config from a runtime with the fast path and
// one without; it returns their ports.
func twoProxies(t *testing.T, rule config.HTTPRouteRule, backends ...config.Backend) (fast, general int) {
	t.Helper()
	return twoProxiesFor(t, func(port int) *config.Config { return oneRoute(port, rule, backends...) })
}

func twoProxiesFor(t *testing.T, cfg func(port int) *config.Config) (fast, general int) {
	t.Helper()
	fast, general = freePort(t), freePort(t)
	for _, p := range []struct {
		port    int
		disable bool
	}{{fast, false}, {general, true}} {
		rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 2 * time.Second, DisableFastPath: p.disable})
		t.Cleanup(func() {
			ctx, cancel := contextWithTimeout(2 * time.Second)
			defer cancel()
			if err := rt.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
		})
		mustApply(t, rt, cfg(p.port))
	}
	return fast, general
}

// variants are the ways a request can be proxied: the fast path, and the
// general path (net/http and ReverseProxy) with the backend reached
// through http.Transport or through upstream's own HTTP/1.1 client.
var variants = []string{"fast path", "general path, http.Transport", "general path, HTTP/1.1 client"}

// onVariants runs f for each variant with the right port and client.
func onVariants(fast, general int, f func(i, port int)) {
	defer upstream.DisableH1Client.Store(false)
	for i, port := range []int{fast, general, general} {
		upstream.DisableH1Client.Store(i == 1)
		f(i, port)
	}
}

// compareProxies runs each case's raw requests against every variant and
// reports any difference in what the client and the backend saw.
func compareProxies(t *testing.T, b *scriptedBackend, fast, general int, name string, raws []string) {
	t.Helper()
	var backendSaw, clientSaw [3][]string
	onVariants(fast, general, func(i, port int) {
		for _, raw := range raws {
			clientSaw[i] = append(clientSaw[i], exchangeRaw(t, port, raw)...)
			if b != nil {
				backendSaw[i] = append(backendSaw[i], b.last())
			}
		}
	})
	for v := 1; v < len(variants); v++ {
		for i := range clientSaw[0] {
			if i >= len(clientSaw[v]) || clientSaw[0][i] != clientSaw[v][i] {
				t.Errorf("%s: client saw, response %d:\n%s:\n%s\n%s:\n%s", name, i, variants[0], clientSaw[0][i], variants[v], at(clientSaw[v], i))
			}
		}
		for i := range backendSaw[0] {
			if backendSaw[0][i] != backendSaw[v][i] {
				t.Errorf("%s: backend saw, request %d:\n%s:\n%s\n%s:\n%s", name, i, variants[0], backendSaw[0][i], variants[v], backendSaw[v][i])
			}
		}
	}
}

// compareOnOneConn sends raws on one connection to every variant.
func compareOnOneConn(t *testing.T, fast, general int, name string, raws []string) {
	t.Helper()
	var got [3]string
	onVariants(fast, general, func(i, port int) {
		got[i] = strings.Join(exchangeRaw(t, port, raws...), "\n")
	})
	for v := 1; v < len(variants); v++ {
		if got[0] != got[v] {
			t.Errorf("%s on one connection:\n%s:\n%s\n%s:\n%s", name, variants[0], got[0], variants[v], got[v])
		}
	}
}

// TestFastPathErrorsMatchGeneralPath compares local answers: no listener,
// no route, invalid backend, no endpoints, refused connections, a route
// the fast path hands to net/http, and request bodies nobody reads.
func TestFastPathErrorsMatchGeneralPath(t *testing.T) {
	b := startScripted(t)
	closed := freePort(t) // nothing listens there
	fast, general := twoProxiesFor(t, func(port int) *config.Config {
		rules := []config.HTTPRouteRule{
			{Matches: pathPrefix("/ok"), BackendRefs: to("s"), Filters: []config.HTTPFilter{{URLRewrite: &config.URLRewrite{Hostname: "rewritten.example", Path: &config.PathModifier{Type: config.ReplacePrefixMatch, ReplacePrefixMatch: "/new"}}}}},
			{Matches: pathPrefix("/bref"), Filters: []config.HTTPFilter{{URLRewrite: &config.URLRewrite{Hostname: "rule.example"}}}, BackendRefs: []config.BackendRef{{Backend: "s", Filters: []config.HTTPFilter{
				{URLRewrite: &config.URLRewrite{Hostname: "ref.example", Path: &config.PathModifier{Type: config.ReplacePrefixMatch, ReplacePrefixMatch: "/ref"}}},
				{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "X-Ref", Value: "1"}}}},
			}}}},
			{Matches: pathPrefix("/layered"), Filters: []config.HTTPFilter{{URLRewrite: &config.URLRewrite{Path: &config.PathModifier{Type: config.ReplacePrefixMatch, ReplacePrefixMatch: "/v2/"}}}}, BackendRefs: []config.BackendRef{{Backend: "s", Filters: []config.HTTPFilter{
				{URLRewrite: &config.URLRewrite{Hostname: "ref.example"}},
			}}}},
			{Matches: pathPrefix("/empty"), BackendRefs: to("empty")},
			{Matches: pathPrefix("/refused"), BackendRefs: to("refused")},
			{Matches: pathPrefix("/invalid"), BackendRefs: []config.BackendRef{{Invalid: "no such service"}}},
			{Matches: pathPrefix("/none")},
			{Matches: pathPrefix("/redirect"), Filters: []config.HTTPFilter{{RequestRedirect: &config.RequestRedirect{Hostname: "elsewhere.example"}}}},
		}
		return &config.Config{
			Version: "1",
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", Hostname: "example.com", HTTPRoutes: []config.HTTPRoute{
				hroute("r", nil, rules...),
				hroute("resp", nil, config.HTTPRouteRule{Matches: pathPrefix("/mod"), BackendRefs: to("s"), Filters: []config.HTTPFilter{{ResponseHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "X-Set", Value: "1"}}}}}}),
			}})},
			Backends: []config.Backend{be("s", b.addr), be("empty"), be("refused", fmt.Sprintf("127.0.0.1:%d", closed))},
		}
	})
	req := func(method, target, host string, extra ...string) string {
		s := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n"
		for _, e := range extra {
			s += e + "\r\n"
		}
		return s + "\r\n"
	}
	cases := map[string][]string{
		"rewrite":      {req("GET", "/ok/x?y=1", "example.com", "X-Reply: ")},
		"ref rewrite":  {req("GET", "/bref/x%20y?y=1", "example.com", "X-Reply: "), req("GET", "/bref", "example.com", "X-Reply: "), req("GET", "/layered/a/b", "example.com", "X-Reply: ")},
		"no listener":  {req("GET", "/ok", "other.example"), req("HEAD", "/ok", "other.example")},
		"no route":     {req("GET", "/nowhere", "example.com"), req("POST", "/nowhere", "example.com", "Content-Length: 4") + "abcd" + req("GET", "/nowhere", "example.com")},
		"errors":       {req("GET", "/empty", "example.com"), req("GET", "/refused", "example.com"), req("GET", "/invalid", "example.com"), req("GET", "/none", "example.com")},
		"modified":     {req("GET", "/mod", "example.com", "X-Reply: 204"), req("GET", "/mod/x", "example.com", "X-Reply: early")},
		"handed over":  {req("GET", "/ok/1", "example.com", "X-Reply: ") + req("GET", "/redirect", "example.com") + req("GET", "/ok/2", "example.com", "X-Reply: "), "", ""},
		"body refused": {req("POST", "/refused", "example.com", "Content-Length: 3") + "abc"},
	}
	for name, raws := range cases {
		if name == "handed over" || name == "no route" {
			// One connection: the answers must come in order.
			compareOnOneConn(t, fast, general, name, raws)
			continue
		}
		compareProxies(t, b, fast, general, name, raws)
	}
}

// TestFastPathMatchesGeneralPath sends the same requests through the fast
// path and through net/http + ReverseProxy and requires the backend and
// the client to see the same bytes (but for Date).
func TestFastPathMatchesGeneralPath(t *testing.T) {
	b := startScripted(t)
	rule := config.HTTPRouteRule{
		BackendRefs: []config.BackendRef{{Backend: "s", Filters: []config.HTTPFilter{{RequestHeaderModifier: &config.HeaderModifier{Add: []config.HTTPHeader{{Name: "x-ref", Value: "1"}}}}}}},
		Filters: []config.HTTPFilter{
			{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "X-Rule", Value: "r"}}, Remove: []string{"X-Drop"}}},
			{ResponseHeaderModifier: &config.HeaderModifier{Add: []config.HTTPHeader{{Name: "X-Resp", Value: "added"}}}},
		},
	}
	fast, general := twoProxies(t, rule, be("s", b.addr))
	req := func(method, target, reply string, extra ...string) string {
		s := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\nX-Reply: " + reply + "\r\n"
		for _, e := range extra {
			s += e + "\r\n"
		}
		return s + "\r\n"
	}
	cases := []struct {
		name string
		raws []string
	}{
		{"plain", []string{req("GET", "/", "")}},
		{"keep-alive sequence", []string{req("GET", "/a", ""), req("GET", "/b", "chunked"), req("GET", "/c", "sniff"), req("GET", "/d", "")}},
		{"request fields", []string{req("GET", "/p?q=1&r=2", "", "User-Agent: ua/1", "Accept: a", "accept: b", "X-Drop: x", "Cookie: c=1", "X-Trim:   spaced \t")}},
		{"forwarded fields replaced", []string{req("GET", "/", "", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Host: evil", "X-Forwarded-Proto: https", "Forwarded: for=1.2.3.4")}},
		{"hop-by-hop", []string{req("GET", "/", "", "Connection: keep-alive, X-Foo", "X-Foo: 1", "Keep-Alive: 300", "Proxy-Connection: keep-alive", "Proxy-Authorization: Basic x", "Te: trailers, deflate")}},
		{"te without trailers", []string{req("GET", "/", "", "Te: deflate")}},
		{"post body", []string{req("POST", "/post", "", "Content-Length: 5", "Content-Type: text/plain") + "hello"}},
		{"put empty", []string{req("PUT", "/put", "", "Content-Length: 0")}},
		{"delete no body", []string{req("DELETE", "/x", "")}},
		{"get with body", []string{req("GET", "/x", "", "Content-Length: 3") + "abc", req("GET", "/y", "")}},
		{"escaped path", []string{req("GET", "/a%2Fb/c%20d", "")}},
		{"odd path bytes", []string{req("GET", "/a!b*(c)'d[e]", "")}},
		{"dot segments", []string{req("GET", "/x/../y//z/./w/", "")}},
		{"query cleaning", []string{req("GET", "/q?a=1;b=2&c=%zz&d=ok", "")}},
		{"force query", []string{req("GET", "/q?", "")}},
		{"query escapes", []string{req("GET", "/q?a=%41&b=%2", ""), req("GET", "/q?a=%41&b=%zz", ""), req("GET", "/q?a=%41%42", "")}},
		{"head", []string{req("HEAD", "/", ""), req("HEAD", "/", "chunked")}},
		{"pragma", []string{req("GET", "/", "pragma", "Pragma: no-cache")}},
		{"idempotency", []string{req("POST", "/", "", "Idempotency-Key: 1")}},
		{"client close", []string{req("GET", "/", "", "Connection: close")}},
		// Not compared: an empty chunked body, and a chunked body without
		// Content-Type, for which net/http's answer depends on whether
		// ReverseProxy's immediate flush timer or the first body write
		// wins a race (Content-Length: 0 or chunked; sniffed or not).
		{"responses", []string{req("GET", "/", "chunked"), req("GET", "/", "204"), req("GET", "/", "304"), req("GET", "/", "early"), req("GET", "/", "hop"), req("GET", "/", "nodate"), req("GET", "/", "odd"), req("GET", "/", "pragma"), req("GET", "/", "both"), req("GET", "/", "sse"), req("GET", "/", "encoded"), req("GET", "/", "spacekey")}},
		{"close-delimited", []string{req("GET", "/", "close")}},
		{"http/1.0 backend", []string{req("GET", "/", "http10")}},
		{"large bodies", []string{req("GET", "/", "big"), req("GET", "/", "bigchunk"), req("POST", "/", "", "Content-Length: 30000") + strings.Repeat("p", 30000), req("POST", "/", "", "Content-Length: 200000") + strings.Repeat("p", 200000)}},
		{"bad backend replies", []string{req("GET", "/", "badcode"), req("GET", "/", "badcl"), req("GET", "/", "badte"), req("GET", "/", "upgrade")}},
		{"pipelined", []string{req("GET", "/1", "") + req("GET", "/2", "chunked") + req("GET", "/3", "sniff"), "", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name != "pipelined" {
				compareProxies(t, b, fast, general, c.name, c.raws)
			}
			if c.name == "keep-alive sequence" || c.name == "pipelined" {
				// Also on one connection.
				compareOnOneConn(t, fast, general, c.name, c.raws)
			}
		})
	}
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return "(nothing)"
}

// short abbreviates large bodies in failure messages.
func short(b []byte) string {
	if len(b) <= 64 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes, %d distinct)", b[:32], len(b), len(bytes.Split(b, b[:1])))
}

// TestFastEligibleKnowsEveryRuleField fails when a rule or backendRef
// gains a field: the fast path must either apply the new feature the way
// the general path does or leave such rules to it (fastEligible).
func TestFastEligibleKnowsEveryRuleField(t *testing.T) {
	known := map[string][]string{
		"ruleHandler": {
			// Applied by the fast path.
			"routeKey", "reqMod", "respMod", "rewrite", "session", "refs", "cumWeight",
			// The rule name, for access logs (both paths log it).
			"name",
			// Rules with these go to the general path.
			"redirect", "direct", "cors", "mirrors", "traffic", "timeout",
			// Set only with a timeout or a per-try timeout (a retrier on
			// every ref), both of which go to the general path.
			"timed",
			// Request metrics; the fast path records them too (metricsFor).
			"series",
		},
		"refHandler": {
			"backend", "reqMod", "respMod", "rewrite",
			// Only a bare *upstream.Backend transport: a retrier (retries,
			// per-try timeouts, budgets) goes to the general path.
			"proxy",
			// The access log's CEL variable; both paths log.
			"celBackend",
			// MCP backends go to the general path.
			"mcp",
			// Request metrics; the fast path records them too (metricsFor).
			"series",
		},
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(ruleHandler{}), reflect.TypeOf(refHandler{})} {
		var fields []string
		for i := 0; i < typ.NumField(); i++ {
			fields = append(fields, typ.Field(i).Name)
		}
		want := append([]string(nil), known[typ.Name()]...)
		sort.Strings(fields)
		sort.Strings(want)
		if !reflect.DeepEqual(fields, want) {
			t.Errorf("%s fields are %v; fastEligible (fastpath.go) knows %v: decide whether the fast path applies the new ones", typ.Name(), fields, want)
		}
	}
}
