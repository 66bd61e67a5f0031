package l4

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
)

// tlsBackend is a TLS server presenting a certificate with CommonName name
// for hostnames, answering each line with name + ":" + line.
func tlsBackend(t *testing.T, ca *testCA, name string, hostnames ...string) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, name, hostnames...)}}
	ln := listenTCP(t)
	serveConns(t, ln, func(c net.Conn) {
		lineEcho(name)(tls.Server(c, cfg))
	})
	return ln.Addr().String()
}

func TestPassthroughRoutesBySNI(t *testing.T) {
	ca := newTestCA(t)
	exact := tlsBackend(t, ca, "exact", "a.example.com")
	wild := tlsBackend(t, ca, "wild", "*.example.com", "x.y.example.com")
	deeper := tlsBackend(t, ca, "deeper", "*.b.example.com")
	other := tlsBackend(t, ca, "other", "other.test")

	_, addr := startServer(t, Config{
		Passthrough: true,
		Routes: []Route{
			// Wildcard first in the list: exact must still win.
			{Name: "wild", Hostnames: []string{"*.example.com"}, Backends: one(wild)},
			{Name: "exact", Hostnames: []string{"a.example.com"}, Backends: one(exact)},
			{Name: "deeper", Hostnames: []string{"*.b.example.com"}, Backends: one(deeper)},
			{Name: "other", Hostnames: []string{"Other.Test"}, Backends: one(other)},
		},
	})

	for _, tc := range []struct{ sni, want string }{
		{"a.example.com", "exact"},
		{"c.example.com", "wild"},
		{"x.y.example.com", "wild"}, // wildcard spans several labels
		{"z.b.example.com", "deeper"},
		{"other.test", "other"},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.pool})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The certificate proves which backend did the handshake; the
			// reply proves the stream reached it.
			if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tc.want {
				t.Fatalf("certificate from %q, want %q", cn, tc.want)
			}
			askLine(t, c, bufio.NewReader(c), "ping", tc.want+":ping")
		})
	}

	for _, sni := range []string{"example.com", "nope.test"} {
		t.Run("no match "+sni, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			c := tls.Client(raw, &tls.Config{ServerName: sni, RootCAs: ca.pool})
			if err := c.Handshake(); err == nil {
				t.Fatal("handshake succeeded without a matching route")
			}
		})
	}
}

func TestPassthroughNoSNIUsesCatchAll(t *testing.T) {
	ca := newTestCA(t)
	def := tlsBackend(t, ca, "default", "default.test")
	_, addr := startServer(t, Config{
		Passthrough: true,
		Routes:      []Route{{Name: "default", Backends: one(def)}},
	})
	// An IP address as ServerName makes crypto/tls omit SNI.
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askLine(t, c, bufio.NewReader(c), "hi", "default:hi")
}

func TestPassthroughRejectsPlaintext(t *testing.T) {
	backend := listenTCP(t)
	serveConns(t, backend, lineEcho("b"))
	s, addr := startServer(t, Config{Passthrough: true, Routes: []Route{{Backends: one(backend.Addr().String())}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The listener drops the connection: a reset is an answer too, only bytes are wrong.
	if n, err := io.ReadAll(c); len(n) != 0 {
		t.Fatalf("got %q (%v) from a passthrough listener fed plaintext", n, err)
	}
	if st := s.Stats(); st.HandshakeErrors != 1 {
		t.Fatalf("HandshakeErrors = %d, want 1", st.HandshakeErrors)
	}
}

func TestTLSTerminateToTCP(t *testing.T) {
	ca := newTestCA(t)
	b1, b2 := listenTCP(t), listenTCP(t)
	serveConns(t, b1, echoUntilEOF("b1"))
	serveConns(t, b2, echoUntilEOF("b2"))
	_, addr := startServer(t, Config{
		TLS: &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "proxy", "one.test", "*.two.test")}},
		Routes: []Route{
			{Name: "one", Hostnames: []string{"one.test"}, Backends: one(b1.Addr().String())},
			{Name: "two", Hostnames: []string{"*.two.test"}, Backends: one(b2.Addr().String())},
		},
	})
	for _, tc := range []struct{ sni, want string }{{"one.test", "b1"}, {"x.two.test", "b2"}} {
		t.Run(tc.sni, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.pool})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "proxy" {
				t.Fatalf("certificate %q, want the proxy's", cn)
			}
			// close_notify from the client must reach the backend as FIN,
			// and the backend's FIN must come back as close_notify (EOF).
			if got := roundTrip(t, c, "payload"); got != tc.want+":payload" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestPassthroughListenerWithTerminateRoute(t *testing.T) {
	ca := newTestCA(t)
	passed := tlsBackend(t, ca, "passed", "pass.test")
	plain := listenTCP(t)
	serveConns(t, plain, lineEcho("plain"))
	_, addr := startServer(t, Config{
		Passthrough: true,
		Routes: []Route{
			{Name: "pass", Hostnames: []string{"pass.test"}, Backends: one(passed)},
			{
				Name:      "term",
				Hostnames: []string{"term.test"},
				Backends:  one(plain.Addr().String()),
				Terminate: &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "proxy", "term.test")}},
			},
		},
	})
	for _, tc := range []struct{ sni, cert, reply string }{
		{"pass.test", "passed", "passed:x"},
		{"term.test", "proxy", "plain:x"},
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.pool})
		if err != nil {
			t.Fatalf("%s: %v", tc.sni, err)
		}
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tc.cert {
			t.Fatalf("%s: certificate %q, want %q", tc.sni, cn, tc.cert)
		}
		askLine(t, c, bufio.NewReader(c), "x", tc.reply)
		c.Close()
	}
	if _, err := NewServer(Config{Routes: []Route{{Backends: one(plain.Addr().String()), Terminate: &tls.Config{}}}}, nil); err == nil {
		t.Fatal("Terminate route accepted on a plain TCP listener")
	}
}

// TestTLSTerminateReencrypts: a target with a TLS client config gets the plaintext of a
// terminated connection over TLS of its own (BackendTLSPolicy behind a Terminate TLSRoute):
// the backend sees the configured server name, and a backend the config does not trust gets
// no bytes while the client's connection is closed.
func TestTLSTerminateReencrypts(t *testing.T) {
	ca, otherCA := newTestCA(t), newTestCA(t)
	sawSNI := make(chan string, 1)
	backendTLS := &tls.Config{
		Certificates: []tls.Certificate{ca.leaf(t, "backend", "abc.example.com")},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sawSNI <- h.ServerName
			return nil, nil
		},
	}
	secure := listenTCP(t)
	serveConns(t, secure, func(c net.Conn) { lineEcho("secure")(tls.Server(c, backendTLS)) })
	untrusted := tlsBackend(t, otherCA, "untrusted", "abc.example.com")
	client := &tls.Config{ServerName: "abc.example.com", RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	_, addr := startServer(t, Config{
		TLS: &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "proxy", "tls.example.com", "bad.example.com")}},
		Routes: []Route{
			{Name: "good", Hostnames: []string{"tls.example.com"}, Backends: []WeightedTarget{{Addr: secure.Addr().String(), Weight: 1, TLS: client}}},
			{Name: "bad", Hostnames: []string{"bad.example.com"}, Backends: []WeightedTarget{{Addr: untrusted, Weight: 1, TLS: client}}},
		},
	})

	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "tls.example.com", RootCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	askLine(t, c, bufio.NewReader(c), "ping", "secure:ping")
	c.Close()
	if got := <-sawSNI; got != "abc.example.com" {
		t.Fatalf("backend saw server name %q, want abc.example.com", got)
	}

	c, err = tls.Dial("tcp", addr, &tls.Config{ServerName: "bad.example.com", RootCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("untrusted backend: read %q, %v; want the connection closed", b, err)
	}
}
