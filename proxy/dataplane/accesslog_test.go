package dataplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// lineSink receives the access log: it splits what the writer writes into
// lines and hands each, decoded, to a channel.
type lineSink struct {
	t     testing.TB
	mu    sync.Mutex
	buf   []byte
	lines chan map[string]any
}

func newLineSink(t testing.TB) *lineSink {
	return &lineSink{t: t, lines: make(chan map[string]any, 1024)}
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		var m map[string]any
		if err := json.Unmarshal(s.buf[:i], &m); err != nil {
			s.t.Errorf("access-log line %q is not JSON: %v", s.buf[:i], err)
		} else {
			s.lines <- m
		}
		s.buf = s.buf[i+1:]
	}
}

// until collects lines until one matches done, within 10 s.
func (s *lineSink) until(t testing.TB, done func(map[string]any) bool) []map[string]any {
	t.Helper()
	var got []map[string]any
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-s.lines:
			got = append(got, m)
			if done(m) {
				return got
			}
		case <-timeout:
			t.Fatalf("no awaited access-log line within 10s; got %v", got)
		}
	}
}

// checkFields compares the fields of want with m's (numbers as float64);
// a nil value in want requires the field to be absent, present (the
// string) any value.
func checkFields(t testing.TB, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := m[k]
		switch {
		case w == nil && ok:
			t.Errorf("%s: %s = %v, want none", what, k, v)
		case w == "present":
			if !ok {
				t.Errorf("%s: no %s in %v", what, k, m)
			}
		case w != nil && v != w:
			t.Errorf("%s: %s = %v (%T), want %v (%T); line %v", what, k, v, v, w, w, m)
		}
	}
}

// accessLogPaths runs f with the access log on and the HTTP/1.1 fast path
// on and off; handed tells whether connections left the fast path.
func accessLogPaths(t *testing.T, f func(t *testing.T, port int, rt *Runtime, sink *lineSink)) {
	for _, mode := range []struct {
		name    string
		disable bool
	}{{"fast", false}, {"net-http", true}} {
		t.Run(mode.name, func(t *testing.T) {
			sink := newLineSink(t)
			rt := newRuntimeWith(t, Options{AccessLog: true, AccessLogOutput: sink, DisableFastPath: mode.disable, Gateway: "ns/gw"})
			f(t, freePort(t), rt, sink)
			if !mode.disable {
				for _, s := range rt.servers {
					if s.fast != nil && s.fast.handed.Load() != 0 {
						t.Errorf("bind %s: %d connections handed to net/http; the fast path should have served them", s.name, s.fast.handed.Load())
					}
				}
			}
		})
	}
}

func post(t testing.TB, c *http.Client, url, host, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

// TestAccessLogHTTP1: one JSON line per HTTP/1.1 request, on the fast path
// and through net/http alike, with the request, route, upstream, sizes,
// durations and the traceparent's trace id; local answers and upstream
// failures carry their reason.
func TestAccessLogHTTP1(t *testing.T) {
	accessLogPaths(t, func(t *testing.T, port int, rt *Runtime, sink *lineSink) {
		a := startBackend(t, "a", false)
		dead := freePort(t) // nothing listens there
		mustApply(t, rt, &config.Config{
			Version: "1",
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{
				hroute("r1", []string{"example.com"}, config.HTTPRouteRule{Name: "main", Matches: pathPrefix("/ok"), BackendRefs: to("a")}),
				hroute("down", []string{"example.com"}, config.HTTPRouteRule{Matches: pathPrefix("/down"), BackendRefs: to("dead")}),
			}})},
			Backends: []config.Backend{be("a", a.addr), be("dead", fmt.Sprintf("127.0.0.1:%d", dead))},
		})
		c := &http.Client{Timeout: 10 * time.Second}
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		r := get(t, c, base+"/ok/get?q=1", "example.com", "Traceparent", tp)
		if r.code != 200 {
			t.Fatalf("GET: %d", r.code)
		}
		p := post(t, c, base+"/ok/post", "example.com", "hello body")
		if p.code != 200 {
			t.Fatalf("POST: %d", p.code)
		}
		if r := get(t, c, base+"/nothing", "example.com"); r.code != 404 {
			t.Fatalf("no route: %d", r.code)
		}
		if r := get(t, c, base+"/down", "example.com"); r.code != 502 {
			t.Fatalf("dead backend: %d", r.code)
		}
		get(t, c, base+"/ok/end", "example.com")

		lines := sink.until(t, func(m map[string]any) bool { return m["path"] == "/ok/end" })
		if len(lines) != 5 {
			t.Fatalf("%d lines for 5 requests: %v", len(lines), lines)
		}
		g := lines[0]
		checkFields(t, "GET", g, map[string]any{
			"kind": "http", "gateway": "ns/gw", "bind": "http", "listener": "web", "route": "default/r1", "rule": "main",
			"protocol": "HTTP/1.1", "method": "GET", "authority": "example.com", "path": "/ok/get", "status": 200.0,
			"backend": "a", "upstream": a.addr, "bytes_received": 0.0, "bytes_sent": float64(len(r.body)), "retries": 0.0,
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "reason": nil,
			"time": "present", "client": "present", "duration_ms": "present", "upstream_ms": "present", "ttfb_ms": "present",
		})
		if ts, _ := g["time"].(string); !strings.HasSuffix(ts, "Z") {
			t.Errorf("time %q is not UTC RFC 3339", ts)
		} else if when, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(when) > time.Minute || time.Since(when) < 0 {
			t.Errorf("time %q: %v", ts, err)
		}
		d, _ := g["duration_ms"].(float64)
		u, _ := g["upstream_ms"].(float64)
		ttfb, _ := g["ttfb_ms"].(float64)
		if d <= 0 || u <= 0 || ttfb < u || d < ttfb {
			t.Errorf("durations: total %v, upstream %v, ttfb %v: want 0 < upstream <= ttfb <= total", d, u, ttfb)
		}
		checkFields(t, "POST", lines[1], map[string]any{
			"method": "POST", "path": "/ok/post", "status": 200.0, "bytes_received": float64(len("hello body")), "bytes_sent": float64(len(p.body)),
			"trace_id": nil,
		})
		checkFields(t, "no route", lines[2], map[string]any{
			"path": "/nothing", "status": 404.0, "reason": "no_route", "route": "", "backend": nil, "upstream": nil,
			"bytes_sent": float64(len("no route\n")),
		})
		checkFields(t, "dead backend", lines[3], map[string]any{
			"path": "/down", "status": 502.0, "reason": "connect", "route": "default/down", "rule": nil,
			"backend": "dead", "upstream": fmt.Sprintf("127.0.0.1:%d", dead), "upstream_ms": "present",
		})
	})
}

// TestAccessLogH2AndRetries: HTTP/2 requests are logged with their
// protocol; a retried request says how many retries it took.
func TestAccessLogH2AndRetries(t *testing.T) {
	sink := newLineSink(t)
	rt := newRuntimeWith(t, Options{AccessLog: true, AccessLogOutput: sink})
	port := freePort(t)
	a := startBackend(t, "a", false)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{
			hroute("r1", nil,
				config.HTTPRouteRule{Matches: pathPrefix("/retry"), BackendRefs: to("a"),
					Retry: &config.Retry{Attempts: 2, Codes: []int{503}, Backoff: config.D(time.Millisecond)}},
				config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("a")}),
		}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := get(t, h2, base+"/h2", "")
	if r.code != 200 {
		t.Fatalf("h2: %d", r.code)
	}
	if r := get(t, h2, base+"/retry", "", "X-Echo-Status", "503"); r.code != 503 {
		t.Fatalf("retried: %d", r.code)
	}
	get(t, h2, base+"/end", "")
	lines := sink.until(t, func(m map[string]any) bool { return m["path"] == "/end" })
	if len(lines) != 3 {
		t.Fatalf("%d lines for 3 requests: %v", len(lines), lines)
	}
	checkFields(t, "h2", lines[0], map[string]any{"protocol": "HTTP/2.0", "status": 200.0, "bytes_sent": float64(len(r.body)), "retries": 0.0, "upstream": a.addr})
	checkFields(t, "retry", lines[1], map[string]any{"protocol": "HTTP/2.0", "status": 503.0, "retries": 2.0, "reason": nil})
	if n := a.hits.Load(); n != 5 {
		t.Errorf("backend got %d requests, want 5 (3 tries of /retry)", n)
	}
}

// TestListenerAccessLog: a listener with a policy access log writes one
// line per request its filter accepts, with the CEL attributes, while the
// runtime's global access log is off; a listener without one writes
// nothing. Both the fast path and net/http evaluate it.
func TestListenerAccessLog(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%t", disable), func(t *testing.T) {
			sink := newLineSink(t)
			a := startBackend(t, "a", false)
			port := freePort(t)
			rt := newRuntimeWith(t, Options{AccessLogOutput: sink, DisableFastPath: disable})
			route := func(name string) config.HTTPRoute {
				return hroute(name, nil, config.HTTPRouteRule{BackendRefs: to("a")})
			}
			mustApply(t, rt, &config.Config{
				Version: "1",
				Binds: []config.Bind{httpBind("http", port,
					config.Listener{Name: "logged", Hostname: "logged.example", HTTPRoutes: []config.HTTPRoute{route("r1")},
						AccessLog: &config.AccessLog{
							Filter: `request.path.startsWith("/log") && response.code < 500`,
							Attributes: []config.AccessLogAttribute{
								{Name: "agent", Expression: `request.headers["x-agent"]`},
								{Name: "double", Expression: `response.code * 2`},
								{Name: "backend", Expression: `backend.name`},
							},
						}},
					config.Listener{Name: "quiet", Hostname: "quiet.example", HTTPRoutes: []config.HTTPRoute{route("r2")}},
				)},
				Backends: []config.Backend{be("a", a.addr)},
			})
			c := &http.Client{Timeout: 10 * time.Second}
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			for _, req := range []struct{ host, path, status string }{
				{"logged.example", "/log/one", ""},
				{"logged.example", "/skip", ""},          // filtered out by path
				{"logged.example", "/log/failed", "503"}, // filtered out by status
				{"quiet.example", "/log/quiet", ""},      // no access log
				{"logged.example", "/log/two", "201"},
			} {
				hdr := []string{"X-Agent", "agent-" + req.path}
				if req.status != "" {
					hdr = append(hdr, "X-Echo-Status", req.status)
				}
				if r := get(t, c, base+req.path, req.host, hdr...); r.code == 0 {
					t.Fatalf("%s: no response", req.path)
				}
			}
			got := sink.until(t, func(m map[string]any) bool { return m["path"] == "/log/two" })
			if len(got) != 2 {
				t.Fatalf("got %d lines, want 2 (/log/one, /log/two): %v", len(got), got)
			}
			for i, want := range []struct {
				path   string
				status float64
			}{{"/log/one", 200}, {"/log/two", 201}} {
				m := got[i]
				checkFields(t, want.path, m, map[string]any{"path": want.path, "status": want.status, "method": "GET", "listener": "logged", "upstream": a.addr})
				attrs, _ := m["attributes"].(map[string]any)
				if attrs == nil || attrs["agent"] != "agent-"+want.path || attrs["double"] != 2*want.status || attrs["backend"] != "a" {
					t.Errorf("line %d attributes = %v", i, m["attributes"])
				}
			}
			if !disable {
				for _, s := range rt.servers {
					if n := s.fast.handed.Load(); n != 0 {
						t.Errorf("%d connections handed to net/http; the fast path logs itself", n)
					}
				}
			}
		})
	}
}

// TestAccessLogDrops: when the output does not keep up, lines are dropped
// and counted rather than waited for; every line is either written or
// counted.
func TestAccessLogDrops(t *testing.T) {
	pr, pw := io.Pipe()
	w := newAccessOutput(pw, nil)
	line := strings.Repeat("x", 1023) + "\n"
	const extra = 1000
	sent := accessQueue + extra
	for i := 0; i < sent; i++ {
		lp := getLine()
		*lp = append(*lp, line...)
		w.send(lp) // never blocks: nobody reads the pipe yet
	}
	// The writer holds at most its buffer's worth of lines besides the queue.
	dropped := int(testutil.ToFloat64(w.dropped))
	if dropped < extra-accessBufWrite/len(line)-1 || dropped > extra {
		t.Errorf("dropped %d lines of %d, the queue holding %d", dropped, sent, accessQueue)
	}
	done := make(chan int64)
	go func() {
		n, err := io.Copy(io.Discard, pr)
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	w.close()
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := <-done; int(n) != (sent-dropped)*len(line) {
		t.Errorf("wrote %d bytes, want %d lines of %d", n, sent-dropped, len(line))
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "ctl\x00\x01\x1f\n\r\t", "ünïcödé ☃", "bad\xff\xfeutf8", "\u2028\u2029", "<html>&"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q encodes as %s: %v", s, b, err)
			continue
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var wantS string
		if err := json.Unmarshal(want, &wantS); err != nil {
			t.Fatal(err)
		}
		if got != wantS {
			t.Errorf("%q decodes as %q, want %q", s, got, wantS)
		}
	}
	if b := appendMillisField(nil, "d", 1234567*time.Nanosecond); string(b) != `,"d":1.234` {
		t.Errorf("millis: %s", b)
	}
}

func TestTraceparentID(t *testing.T) {
	for v, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":      "4bf92f3577b34da6a3ce929d0e0e4736",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more": "",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01":      "",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":      "",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":      "",
		"00-4bf92f3577b34da6a3ce929d0e0e4736":                          "",
	} {
		if got := traceparentID(v); got != want {
			t.Errorf("traceparentID(%q) = %q, want %q", v, got, want)
		}
	}
}
