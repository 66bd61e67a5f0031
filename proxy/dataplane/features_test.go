package dataplane

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

func oneRoute(port int, rule config.HTTPRouteRule, backends ...config.Backend) *config.Config {
	return &config.Config{
		Version:  "1",
		Binds:    []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil, rule)}})},
		Backends: backends,
	}
}

func TestH2CBothSides(t *testing.T) {
	a := startBackend(t, "a", true)
	port := freePort(t)
	rt := newRuntime(t)
	b := be("a", a.addr)
	b.Protocol = config.BackendH2C
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, b))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	r := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/x", port), "")
	if r.code != 200 || r.echo.Proto != "HTTP/2.0" {
		t.Fatalf("h2c: code %d, backend saw %q", r.code, r.echo.Proto)
	}
	// HTTP/1.1 clients still work on the same port.
	r = get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/x", port), "")
	if r.code != 200 || r.echo.Proto != "HTTP/2.0" {
		t.Fatalf("h1 client: code %d, backend saw %q", r.code, r.echo.Proto)
	}
}

func TestBackendTLSH2WithSAN(t *testing.T) {
	ca := testcerts.NewCA("backend-ca")
	leaf := ca.Issue("backend.internal", "spiffe://cluster.local/ns/default/sa/app")
	bk := &backend{name: "tls"}
	s := httptest.NewUnstartedServer(echoHandler(bk))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	s.EnableHTTP2 = true
	s.StartTLS()
	defer s.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mk := func(sans ...string) config.Backend {
		return config.Backend{Name: "tls", Protocol: config.BackendH2, Endpoints: []config.Endpoint{{Address: s.Listener.Addr().String()}},
			TLS: &config.BackendTLS{CACertificates: ca.CertPEM, SNI: "backend.internal", SubjectAltNames: sans}}
	}
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("tls")}, mk("spiffe://cluster.local/ns/default/sa/app")))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	r := get(t, http.DefaultClient, url, "")
	if r.code != 200 || r.echo.Proto != "HTTP/2.0" {
		t.Fatalf("h2 backend: %d %q %s", r.code, r.echo.Proto, r.body)
	}
	cfg := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("tls")}, mk("spiffe://cluster.local/ns/other/sa/evil"))
	cfg.Version = "2"
	mustApply(t, rt, cfg)
	if r := get(t, http.DefaultClient, url, ""); r.code != 502 {
		t.Fatalf("wrong SAN: got %d, want 502", r.code)
	}
}

func TestWeightedSplitAndEndpointSpread(t *testing.T) {
	a1, a2 := startBackend(t, "a1", false), startBackend(t, "a2", false)
	b := startBackend(t, "b", false)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: []config.BackendRef{
		{Backend: "a", Weight: intp(3)}, {Backend: "b", Weight: intp(1)}, {Backend: "b", Weight: intp(0)},
	}}, be("a", a1.addr, a2.addr), be("b", b.addr)))
	const n = 2000
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for i := 0; i < n; i++ {
		if r := get(t, http.DefaultClient, url, ""); r.code != 200 {
			t.Fatalf("request %d: %d", i, r.code)
		}
	}
	aShare := float64(a1.hits.Load()+a2.hits.Load()) / n
	// 3:1 split; 0.75 +- 0.05 is more than 5 standard deviations.
	if aShare < 0.70 || aShare > 0.80 {
		t.Errorf("weight 3 of 4 got share %.3f", aShare)
	}
	if a1.hits.Load() == 0 || a2.hits.Load() == 0 {
		t.Errorf("endpoints not both used: %d %d", a1.hits.Load(), a2.hits.Load())
	}
}

func TestMirror(t *testing.T) {
	a := startBackend(t, "a", false)
	m := startBackend(t, "m", false)
	m.reqCh = make(chan echo, 16)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{
		BackendRefs: to("a"),
		Filters:     []config.HTTPFilter{{RequestMirror: &config.RequestMirror{Backend: "m"}}},
	}, be("a", a.addr), be("m", m.addr)))
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/mirrored", port), "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"body":"payload"`) {
		t.Fatalf("main request: %d %s", resp.StatusCode, body)
	}
	select {
	case e := <-m.reqCh:
		if e.Path != "/mirrored" || e.Body != "payload" || e.Method != "POST" {
			t.Fatalf("mirror saw %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mirror never received the request")
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	// The backend accepts any Upgrade and then echoes bytes, which is all
	// a WebSocket needs from the proxy.
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			t.Error(err)
			return
		}
		if err := brw.Flush(); err != nil {
			t.Error(err)
			return
		}
		if _, err := io.Copy(conn, brw); err != nil {
			t.Error(err)
			return
		}
	}))
	defer ws.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("ws")}, be("ws", ws.Listener.Addr().String())))
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	for _, msg := range []string{"hello", "world"} {
		if _, err := fmt.Fprint(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, buf, err)
		}
	}
}

func TestTimeoutsAndRetries(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	defer close(release)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/flaky":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			if n%3 != 0 { // fail twice, then succeed
				w.WriteHeader(503)
				return
			}
			fmt.Fprintf(w, "ok %s", b)
		}
	}))
	defer flaky.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/slow"), BackendRefs: to("f"), Timeouts: &config.Timeouts{Request: config.D(200 * time.Millisecond)}},
			config.HTTPRouteRule{Matches: pathPrefix("/flaky"), BackendRefs: to("f"), Retry: &config.Retry{Codes: []int{503}, Attempts: 2, Backoff: config.D(time.Millisecond)}},
		)}})},
		Backends: []config.Backend{be("f", flaky.Listener.Addr().String())},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if r := get(t, http.DefaultClient, base+"/slow", ""); r.code != 504 {
		t.Errorf("request timeout: got %d, want 504", r.code)
	}
	calls.Store(0)
	resp, err := http.Post(base+"/flaky", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok body" || calls.Load() != 3 {
		t.Errorf("retry: %d %q after %d calls", resp.StatusCode, b, calls.Load())
	}
}

func TestSessionPersistence(t *testing.T) {
	a1, a2 := startBackend(t, "a1", false), startBackend(t, "a2", false)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{
		BackendRefs:        to("a"),
		SessionPersistence: &config.SessionPersistence{SessionName: "sticky"},
	}, be("a", a1.addr, a2.addr)))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	first := get(t, http.DefaultClient, url, "")
	ck := first.header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "sticky=") {
		t.Fatalf("no session cookie: %v", first.header)
	}
	cookie := strings.SplitN(ck, ";", 2)[0]
	for i := 0; i < 50; i++ {
		r := get(t, http.DefaultClient, url, "", "Cookie", cookie)
		if r.echo.Backend != first.echo.Backend {
			t.Fatalf("request %d went to %s, session is on %s", i, r.echo.Backend, first.echo.Backend)
		}
		if r.header.Get("Set-Cookie") != "" {
			t.Fatalf("cookie re-issued for a valid session")
		}
	}
}

// rawBackend records the raw request head the proxy sends.
func rawBackend(t *testing.T) (addr string, heads chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	heads = make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					var sb strings.Builder
					if err := req.Header.Write(&sb); err != nil {
						t.Error(err)
						return
					}
					heads <- req.Method + " " + req.URL.Path + "\n" + sb.String() + fmt.Sprintf("TE=%v CL=%d", req.TransferEncoding, req.ContentLength)
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						t.Error(err)
						return
					}
					if _, err := fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), heads
}

func TestRequestSmugglingDefenses(t *testing.T) {
	addr, heads := rawBackend(t)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("raw")}, be("raw", addr)))
	send := func(raw string) string {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "error: " + err.Error()
		}
		resp.Body.Close()
		return resp.Status
	}
	cases := []struct{ name, raw, want string }{
		{"conflicting content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400 Bad Request"},
		{"unsupported transfer-encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501 Not Implemented"},
		{"two transfer-encoding headers", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "501 Not Implemented"},
		{"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nabcd", "400 Bad Request"},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", "431 Request Header Fields Too Large"},
	}
	for _, c := range cases {
		if got := send(c.raw); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	select {
	case h := <-heads:
		t.Fatalf("a rejected request reached the backend:\n%s", h)
	default:
	}
	// Content-Length together with chunked is refused as nginx does
	// (TestFaultyFramingClosesConnection has the details).
	if got := send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"); got != "400 Bad Request" {
		t.Fatalf("CL+TE request: %s", got)
	}
	select {
	case h := <-heads:
		t.Fatalf("a CL+TE request reached the backend:\n%s", h)
	default:
	}
}
