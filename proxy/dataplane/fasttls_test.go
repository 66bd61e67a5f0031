package dataplane

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// httpsProxies serves cfg from a runtime with the fast path and one
// without, and returns them with their ports.
func httpsProxies(t *testing.T, cfg func(port int) *config.Config) (fastRT *Runtime, fast, general int) {
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
		if !p.disable {
			fastRT = rt
		}
	}
	return fastRT, fast, general
}

// fastTracked counts the connections the fast path of rt serves now.
func fastTracked(rt *Runtime) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	n := 0
	for _, s := range rt.servers {
		if s.fast != nil {
			s.fast.mu.Lock()
			n += len(s.fast.conns)
			s.fast.mu.Unlock()
		}
	}
	return n
}

func dialTLS(t *testing.T, ca *testcerts.CA, port int, sni string, protos ...string) *tls.Conn {
	t.Helper()
	conf := &tls.Config{RootCAs: ca.Pool(), ServerName: sni, NextProtos: protos}
	if sni == "" {
		// A client dialing an IP: no SNI, and the certificate names no IP.
		conf.InsecureSkipVerify = true
	}
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFastPathHTTPSMatchesGeneralPath: HTTPS HTTP/1.1 requests answered
// on the fast path, and those it hands to net/http mid-connection, look
// the same to the client and the backend as on net/http alone: the
// forwarded scheme, redirects, 421 for a host of another listener than
// the server name's, and keep-alive across a hand-over.
func TestFastPathHTTPSMatchesGeneralPath(t *testing.T) {
	b := startScripted(t)
	ca := testcerts.NewCA("test-ca")
	leaf := ca.Issue("example.com", "other.example")
	rt, fast, general := httpsProxies(t, func(port int) *config.Config {
		listener := func(name, host string, rules ...config.HTTPRouteRule) config.Listener {
			return config.Listener{Name: name, Hostname: host, Protocol: config.ProtocolHTTPS,
				TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
				HTTPRoutes: []config.HTTPRoute{hroute("r"+name, nil, rules...)}}
		}
		return &config.Config{
			Version: "1",
			Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{
				listener("a", "example.com",
					config.HTTPRouteRule{Matches: pathPrefix("/redirect"), Filters: []config.HTTPFilter{{RequestRedirect: &config.RequestRedirect{Hostname: "elsewhere.example"}}}},
					config.HTTPRouteRule{BackendRefs: to("s"), Filters: []config.HTTPFilter{{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "X-Rule", Value: "r"}}}}}}),
				listener("b", "other.example", config.HTTPRouteRule{BackendRefs: to("s")}),
			}}},
			Backends: []config.Backend{be("s", b.addr)},
		}
	})
	req := func(method, target, host, reply string, extra ...string) string {
		s := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nX-Reply: " + reply + "\r\n"
		for _, e := range extra {
			s += e + "\r\n"
		}
		return s + "\r\n"
	}
	big := "X-Big: " + strings.Repeat("b", 20<<10) // over the fast path's buffer: handed over
	cases := []struct {
		name, sni string
		raws      []string
		backend   bool // compare what the backend saw
	}{
		{"plain", "example.com", []string{req("GET", "/", "example.com", "")}, true},
		{"forwarded fields", "example.com", []string{req("GET", "/f", "example.com", "", "X-Forwarded-Proto: http", "X-Forwarded-For: 1.2.3.4")}, true},
		{"post body", "example.com", []string{req("POST", "/p", "example.com", "", "Content-Length: 5") + "hello"}, true},
		{"responses", "example.com", []string{req("GET", "/", "example.com", "chunked"), req("GET", "/", "example.com", "sniff"), req("HEAD", "/", "example.com", "")}, false},
		{"hand-over then keep-alive", "example.com", []string{req("GET", "/1", "example.com", ""), req("GET", "/big", "example.com", "", big), req("GET", "/after", "example.com", "")}, true},
		{"redirect", "example.com", []string{req("GET", "/", "example.com", ""), req("GET", "/redirect/x", "example.com", ""), req("GET", "/2", "example.com", "")}, false},
		{"misdirected", "example.com", []string{req("GET", "/", "other.example", "")}, false},
		{"no listener for host", "example.com", []string{req("GET", "/", "nowhere.example", "")}, false},
		{"no sni", "", []string{req("GET", "/", "other.example", ""), req("GET", "/", "example.com", "")}, true},
		{"client close", "example.com", []string{req("GET", "/", "example.com", "", "Connection: close")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var client, backend [3][]string
			onVariants(fast, general, func(i, port int) {
				// With and without ALPN.
				protos := []string{"http/1.1"}
				if c.name == "plain" {
					protos = nil
				}
				tc := dialTLS(t, ca, port, c.sni, protos...)
				for _, raw := range c.raws {
					client[i] = append(client[i], exchangeConn(t, tc, port, raw)...)
					backend[i] = append(backend[i], b.last())
				}
			})
			for v := 1; v < len(variants); v++ {
				if got, want := strings.Join(client[0], "\n"), strings.Join(client[v], "\n"); got != want {
					t.Errorf("client saw:\n%s:\n%s\n%s:\n%s", variants[0], got, variants[v], want)
				}
				if got, want := strings.Join(backend[0], "\n"), strings.Join(backend[v], "\n"); c.backend && got != want {
					t.Errorf("backend saw:\n%s:\n%s\n%s:\n%s", variants[0], got, variants[v], want)
				}
			}
			if c.backend && !strings.Contains(backend[0][0], "X-Forwarded-Proto: https") {
				t.Errorf("backend saw no X-Forwarded-Proto: https:\n%s", backend[0][0])
			}
		})
	}

	// HTTP/1.1 connections stay on the fast path; h2 ones go to net/http.
	h1c := dialTLS(t, ca, fast, "example.com", "http/1.1")
	exchangeConn(t, h1c, fast, req("GET", "/", "example.com", ""))
	if n := fastTracked(rt); n != 1 {
		t.Fatalf("fast path serves %d connections after an HTTPS HTTP/1.1 request, want 1", n)
	}
	h2c := dialTLS(t, ca, fast, "example.com", "h2")
	if p := h2c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	resp, err := tlsClient(ca, fast, true).Get("https://example.com/h2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("h2: %s %d", resp.Proto, resp.StatusCode)
	}
	if !strings.Contains(b.last(), "X-Forwarded-Proto: https") {
		t.Errorf("h2 backend request:\n%s", b.last())
	}
}

// TestFastPathHTTPSCleartextRequest: cleartext HTTP sent to an HTTPS
// port gets net/http's 400.
func TestFastPathHTTPSCleartextRequest(t *testing.T) {
	ca := testcerts.NewCA("test-ca")
	leaf := ca.Issue("example.com")
	_, fast, general := httpsProxies(t, func(port int) *config.Config {
		return &config.Config{Version: "1", Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{
			{Name: "a", Hostname: "example.com", Protocol: config.ProtocolHTTPS, TLS: &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}}},
		}}}}
	})
	var got [2]string
	for i, port := range []int{fast, general} {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = string(b)
	}
	if got[0] != got[1] || !strings.HasPrefix(got[0], "HTTP/1.0 400 ") {
		t.Fatalf("fast path: %q, net/http: %q", got[0], got[1])
	}
}

// TestFastPathHTTPSShutdownIdleAndActive: draining an HTTPS bind closes
// its idle fast-path connections and lets an in-flight request finish
// with "Connection: close".
func TestFastPathHTTPSShutdownIdleAndActive(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.URL.Path+" "+r.Header.Get("X-Forwarded-Proto"))
	}))
	defer b.Close()
	ca := testcerts.NewCA("test-ca")
	leaf := ca.Issue("example.com")
	port := freePort(t)
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mustApply(t, rt, &config.Config{Version: "1", Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{
		{Name: "a", Hostname: "example.com", Protocol: config.ProtocolHTTPS, TLS: &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
			HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{BackendRefs: to("b")})}},
	}}}, Backends: []config.Backend{be("b", b.Listener.Addr().String())}})
	dial := func() *rawConn {
		tc := dialTLS(t, ca, port, "example.com", "http/1.1")
		if err := tc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		return &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
	}
	get := "GET /first HTTP/1.1\r\nHost: example.com\r\n\r\n"
	idle := dial()
	idle.send(get)
	if _, body := idle.read(""); body != "/first https" {
		t.Fatalf("idle connection's first answer: %q", body)
	}
	if n := fastTracked(rt); n != 1 {
		t.Fatalf("fast path serves %d connections, want 1", n)
	}
	active := dial()
	active.send(strings.Replace(get, "/first", "/slow", 1))
	<-started

	done := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		done <- rt.Shutdown(ctx)
	}()
	idle.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := idle.br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection during shutdown: read %d bytes, %v; want EOF", n, err)
	}
	close(release)
	resp, body := active.read("")
	if resp.StatusCode != 200 || body != "/slow https" || !resp.Close {
		t.Fatalf("in-flight request during shutdown: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
