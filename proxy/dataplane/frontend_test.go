package dataplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// frontendRuntime is a runtime with the default frontend settings, on the
// fast path or on net/http alone.
func frontendRuntime(t *testing.T, disableFastPath bool) *Runtime {
	t.Helper()
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableFastPath: disableFastPath})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	return rt
}

func withFrontend(c *config.Config, f *config.Frontend) *config.Config {
	c.Binds[0].Frontend = f
	return c
}

// bigHeader is a request with a header field of n bytes.
func bigHeader(n int) string {
	return "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", n) + "\r\n\r\n"
}

// TestFrontendMaxRequestHeaderBytes: a bind's maxRequestHeaderBytes answers
// larger heads with 431 on the fast path, on net/http and over TLS, where
// the default (64 KiB) serves them. net/http, which answers for both
// cleartext paths, allows 4 KiB over the limit (8 KiB on a kept-alive
// connection); an HTTP/2 client refuses to send what the server's
// SETTINGS_MAX_HEADER_LIST_SIZE does not allow.
func TestFrontendMaxRequestHeaderBytes(t *testing.T) {
	a := startBackend(t, "a", false)
	const limit = 1024
	over := limit + 16<<10
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%v", disable), func(t *testing.T) {
			port := freePort(t)
			rt := frontendRuntime(t, disable)
			c := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
			mustApply(t, rt, c)
			rc := dialRaw(t, port)
			rc.send(bigHeader(over))
			if resp, _ := rc.read(""); resp.StatusCode != 200 {
				t.Fatalf("default limit: status %d, want 200", resp.StatusCode)
			}
			c = oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
			c.Version = "2"
			mustApply(t, rt, withFrontend(c, &config.Frontend{MaxRequestHeaderBytes: limit}))
			rc = dialRaw(t, port)
			rc.send(bigHeader(over))
			if resp, _ := rc.read(""); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("over the bind's limit: status %d, want 431", resp.StatusCode)
			}
			rc = dialRaw(t, port)
			rc.send(bigHeader(limit / 2))
			if resp, _ := rc.read(""); resp.StatusCode != 200 {
				t.Fatalf("within the bind's limit: status %d, want 200", resp.StatusCode)
			}
		})
	}
	t.Run("https", func(t *testing.T) {
		ca := testcerts.NewCA("test-ca")
		leaf := ca.Issue("a.example.com")
		port := freePort(t)
		rt := frontendRuntime(t, false)
		mustApply(t, rt, &config.Config{
			Version: "1",
			Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS,
				Frontend: &config.Frontend{MaxRequestHeaderBytes: limit},
				Listeners: []config.Listener{{Name: "a", Protocol: config.ProtocolHTTPS,
					TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
					HTTPRoutes: []config.HTTPRoute{hroute("ra", nil, config.HTTPRouteRule{BackendRefs: to("a")})}}}}},
			Backends: []config.Backend{be("a", a.addr)},
		})
		for _, h2 := range []bool{false, true} {
			c := tlsClient(ca, port, h2)
			for _, tc := range []struct {
				size int
				want int
			}{{limit / 2, 200}, {over, http.StatusRequestHeaderFieldsTooLarge}} {
				req, err := http.NewRequest("GET", "https://a.example.com/", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Big", strings.Repeat("a", tc.size))
				resp, err := c.Do(req)
				if err != nil {
					if h2 && tc.want != 200 && strings.Contains(err.Error(), "larger than peer's advertised limit") {
						continue
					}
					t.Fatalf("h2=%v header of %d bytes: %v", h2, tc.size, err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("h2=%v header of %d bytes: status %d, want %d", h2, tc.size, resp.StatusCode, tc.want)
				}
			}
		}
	})
}

// closedWithin reports whether the server closes rc within d.
func closedWithin(rc *rawConn, d time.Duration) bool {
	rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := rc.br.ReadByte()
	return err == io.EOF
}

// TestFrontendTimeouts: a bind's requestHeaderTimeout and idleTimeout
// replace the defaults (10s and 120s) on both paths.
func TestFrontendTimeouts(t *testing.T) {
	a := startBackend(t, "a", false)
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%v", disable), func(t *testing.T) {
			port := freePort(t)
			rt := frontendRuntime(t, disable)
			c := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
			mustApply(t, rt, withFrontend(c, &config.Frontend{RequestHeaderTimeout: config.D(300 * time.Millisecond), IdleTimeout: config.D(300 * time.Millisecond)}))
			rc := dialRaw(t, port)
			rc.send("GET / HTTP/1.1\r\nHost: x\r\n") // never finished
			if !closedWithin(rc, 3*time.Second) {
				t.Error("an unfinished head was not cut within 3s")
			}
			rc = dialRaw(t, port)
			rc.send(get1("/"))
			if resp, _ := rc.read(""); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !closedWithin(rc, 3*time.Second) {
				t.Error("an idle connection was not closed within 3s")
			}
		})
	}
}

// TestFrontendHTTP2MaxConcurrentStreams: the bind's limit is what the
// server announces in its SETTINGS, on h2c and on TLS.
func TestFrontendHTTP2MaxConcurrentStreams(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("test-ca")
	leaf := ca.Issue("a.example.com")
	port, tport := freePort(t), freePort(t)
	rt := frontendRuntime(t, false)
	fe := &config.Frontend{HTTP2MaxConcurrentStreams: 7}
	c := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	c.Binds[0].Frontend = fe
	c.Binds = append(c.Binds, config.Bind{Name: "https", Address: "127.0.0.1", Port: tport, Protocol: config.ProtocolHTTPS, Frontend: fe,
		Listeners: []config.Listener{{Name: "a", Protocol: config.ProtocolHTTPS,
			TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
			HTTPRoutes: []config.HTTPRoute{hroute("ra", nil, config.HTTPRouteRule{BackendRefs: to("a")})}}}})
	mustApply(t, rt, c)

	h2c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer h2c.Close()
	if got := serverMaxStreams(t, h2c); got != 7 {
		t.Errorf("h2c: SETTINGS_MAX_CONCURRENT_STREAMS %d, want 7", got)
	}
	tc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tport), &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got := serverMaxStreams(t, tc); got != 7 {
		t.Errorf("h2 over TLS: SETTINGS_MAX_CONCURRENT_STREAMS %d, want 7", got)
	}
}

// serverMaxStreams opens HTTP/2 on c and returns the server's
// SETTINGS_MAX_CONCURRENT_STREAMS.
func serverMaxStreams(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingMaxConcurrentStreams)
			if !ok {
				t.Fatal("the server's SETTINGS do not limit concurrent streams")
			}
			return v
		}
	}
}

// TestFrontendCipherSuites: a TLS 1.2 client offering only a suite the
// listener does not list fails the handshake; one offering a listed suite
// succeeds, and TLS 1.3 is unaffected.
func TestFrontendCipherSuites(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("test-ca")
	leaf := ca.Issue("a.example.com") // ECDSA
	port := freePort(t)
	rt := frontendRuntime(t, false)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS,
			Listeners: []config.Listener{{Name: "a", Protocol: config.ProtocolHTTPS,
				TLS: &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)},
					CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}},
				HTTPRoutes: []config.HTTPRoute{hroute("ra", nil, config.HTTPRouteRule{BackendRefs: to("a")})}}}}},
		Backends: []config.Backend{be("a", a.addr)},
	})
	dial := func(maxVersion uint16, suite uint16) error {
		conf := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", MaxVersion: maxVersion}
		if suite != 0 {
			conf.CipherSuites = []uint16{suite}
		}
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), conf)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); err == nil {
		t.Error("a TLS 1.2 client offering only an unlisted suite completed the handshake")
	}
	if err := dial(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384); err != nil {
		t.Errorf("a TLS 1.2 client offering the listed suite: %v", err)
	}
	if err := dial(tls.VersionTLS13, 0); err != nil {
		t.Errorf("a TLS 1.3 client: %v", err)
	}
}

// TestFrontendChangeRebinds: changing a bind's frontend settings takes
// effect on the next connection.
func TestFrontendChangeRebinds(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := frontendRuntime(t, false)
	c := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	mustApply(t, rt, withFrontend(c, &config.Frontend{MaxRequestHeaderBytes: 1024}))
	c = oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	c.Version = "2"
	mustApply(t, rt, withFrontend(c, &config.Frontend{MaxRequestHeaderBytes: 64 << 10}))
	rc := dialRaw(t, port)
	rc.send(bigHeader(8 << 10))
	resp, body := rc.read("")
	if resp.StatusCode != 200 || !bytes.Contains([]byte(body), []byte(`"backend":"a"`)) {
		t.Fatalf("after raising the limit: %d %q", resp.StatusCode, body)
	}
}
