package dataplane

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

func cert(l *testcerts.Leaf) config.Certificate {
	return config.Certificate{CertChain: l.CertPEM, PrivateKey: l.KeyPEM}
}

// tlsClient dials 127.0.0.1:port whatever the URL host, so SNI and Host
// can be chosen freely.
func tlsClient(ca *testcerts.CA, port int, h2 bool, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			// Always send the certificate, even one the server's CA list does not name (as the
			// conformance suite's client does); a client without one sends none.
			if len(certs) == 0 {
				return &tls.Certificate{}, nil
			}
			return &certs[0], nil
		}},
		DialContext: func(ctx contextT, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		},
		Protocols: new(http.Protocols),
	}
	if h2 {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestHTTPSSNIAndCoalescing(t *testing.T) {
	a := startBackend(t, "a", false)
	b := startBackend(t, "b", false)
	ca := testcerts.NewCA("test-ca")
	// One certificate covers both names (so an h2 client may coalesce),
	// plus a dedicated certificate for b.example.com.
	shared := ca.Issue("a.example.com", "b.example.com")
	onlyB := ca.Issue("b.example.com")
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{
			{Name: "a", Hostname: "a.example.com", Protocol: config.ProtocolHTTPS,
				TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(shared)}},
				HTTPRoutes: []config.HTTPRoute{hroute("ra", nil, config.HTTPRouteRule{BackendRefs: to("a")})}},
			{Name: "b", Hostname: "b.example.com", Protocol: config.ProtocolHTTPS,
				TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(onlyB), cert(shared)}},
				HTTPRoutes: []config.HTTPRoute{hroute("rb", nil, config.HTTPRouteRule{BackendRefs: to("b")})}},
		}}},
		Backends: []config.Backend{be("a", a.addr), be("b", b.addr)},
	})
	for _, h2 := range []bool{false, true} {
		c := tlsClient(ca, port, h2)
		for _, host := range []string{"a.example.com", "b.example.com"} {
			resp, err := c.Get("https://" + host + "/x")
			if err != nil {
				t.Fatalf("h2=%v %s: %v", h2, host, err)
			}
			resp.Body.Close()
			wantProto := 1
			if h2 {
				wantProto = 2
			}
			if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != host[:1] || resp.ProtoMajor != wantProto {
				t.Errorf("h2=%v %s: %d backend %q proto %s", h2, host, resp.StatusCode, resp.Header.Get("X-Backend"), resp.Proto)
			}
			// The certificate chosen by SNI.
			leaf := resp.TLS.PeerCertificates[0]
			if host == "b.example.com" && len(leaf.DNSNames) != 1 {
				t.Errorf("SNI b.example.com got certificate for %v", leaf.DNSNames)
			}
		}
	}

	// A request for b.example.com on a connection whose SNI was
	// a.example.com (what h2 coalescing does) gets 421.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: b.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("coalesced request: got %d, want 421", resp.StatusCode)
	}

	// Unknown SNI fails the handshake instead of serving a random cert.
	if _, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.Pool(), ServerName: "c.example.com"}); err == nil {
		t.Error("handshake with unknown SNI succeeded")
	}
}

func TestClientCertificateValidation(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("server-ca")
	clientCA := testcerts.NewCA("client-ca")
	otherCA := testcerts.NewCA("other-ca")
	srv := ca.Issue("secure.example.com", "lax.example.com")
	good := clientCA.Issue("client")
	bad := otherCA.Issue("client")
	securePort, laxPort := freePort(t), freePort(t)
	rt := newRuntime(t)
	bind := func(name string, port int, host string, mode config.ClientValidationMode) config.Bind {
		return config.Bind{Name: name, Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{{
			Name: name, Hostname: host, Protocol: config.ProtocolHTTPS,
			TLS: &config.ListenerTLS{
				Certificates:     []config.Certificate{cert(srv)},
				MinVersion:       "1.3",
				ClientValidation: &config.ClientValidation{CACertificates: clientCA.CertPEM, Mode: mode},
			},
			HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{BackendRefs: to("a")})},
		}}}
	}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{
			bind("secure", securePort, "secure.example.com", config.ClientValidationAllowValidOnly),
			bind("lax", laxPort, "lax.example.com", config.ClientValidationAllowInsecureFallback),
		},
		Backends: []config.Backend{be("a", a.addr)},
	})
	cases := []struct {
		port  int
		host  string
		certs []tls.Certificate
		ok    bool
	}{
		{securePort, "secure.example.com", []tls.Certificate{good.TLS}, true},
		{securePort, "secure.example.com", nil, false},
		{securePort, "secure.example.com", []tls.Certificate{bad.TLS}, false},
		{laxPort, "lax.example.com", nil, true},
		{laxPort, "lax.example.com", []tls.Certificate{good.TLS}, true},
		// AllowInsecureFallback accepts a client whose certificate does
		// not validate.
		{laxPort, "lax.example.com", []tls.Certificate{bad.TLS}, true},
	}
	for i, c := range cases {
		cl := tlsClient(ca, c.port, false, c.certs...)
		resp, err := cl.Get("https://" + c.host + "/")
		ok := err == nil && resp.StatusCode == 200
		if err == nil {
			resp.Body.Close()
		}
		if ok != c.ok {
			t.Errorf("case %d (%s, %d certs): ok=%v err=%v, want ok=%v", i, c.host, len(c.certs), ok, err, c.ok)
		}
	}
	// TLS 1.2 is refused by a minVersion 1.3 listener.
	_, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", laxPort), &tls.Config{RootCAs: ca.Pool(), ServerName: "lax.example.com", MaxVersion: tls.VersionTLS12})
	if err == nil {
		t.Error("TLS 1.2 handshake accepted by a 1.3-only listener")
	}
}

// TestCertificateRotationWithoutRebind swaps the certificate of a live
// HTTPS bind: new handshakes get the new certificate, the socket stays.
func TestCertificateRotationWithoutRebind(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("rotate-ca")
	port := freePort(t)
	rt := newRuntime(t)
	mk := func(version string, leaf *testcerts.Leaf) *config.Config {
		return &config.Config{
			Version: version,
			Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{{
				Name: "l", Protocol: config.ProtocolHTTPS, TLS: &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
				HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{BackendRefs: to("a")})},
			}}}},
			Backends: []config.Backend{be("a", a.addr)},
		}
	}
	first, second := ca.Issue("rotate.example.com"), ca.Issue("rotate.example.com")
	mustApply(t, rt, mk("1", first))
	srv := rt.servers["https"]
	serial := func() string {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.Pool(), ServerName: "rotate.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	mustApply(t, rt, mk("2", second))
	if after := serial(); after == before {
		t.Fatal("new handshakes still get the old certificate")
	}
	if rt.servers["https"] != srv {
		t.Fatal("certificate change re-bound the socket")
	}
}
