package dataplane

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// tcpEcho answers every line with "<name>:<line>".
func tcpEcho(t *testing.T, name string, tlsConf *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	t.Cleanup(func() { ln.Close() })
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
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := fmt.Fprintf(c, "%s:%s", name, line); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return line[:len(line)-1]
}

func l4route(name string, hosts []string, backend string) config.L4Route {
	return config.L4Route{RouteMeta: config.RouteMeta{Namespace: "default", Name: name, CreationTimestamp: time.Unix(1700000000, 0)}, Hostnames: hosts, BackendRefs: to(backend)}
}

func TestTCPAndTLSPassthroughAndUDP(t *testing.T) {
	ca := testcerts.NewCA("l4-ca")
	tcpAddr := tcpEcho(t, "tcp", nil)
	aAddr := tcpEcho(t, "a", &tls.Config{Certificates: []tls.Certificate{ca.Issue("a.example.com").TLS}})
	bAddr := tcpEcho(t, "b", &tls.Config{Certificates: []tls.Certificate{ca.Issue("b.example.com").TLS}})
	udpBackend, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udpBackend.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := udpBackend.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := udpBackend.WriteTo(append([]byte("udp:"), buf[:n]...), from); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	tcpPort, tlsPort, udpPort := freePort(t), freePort(t), freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{
			{Name: "tcp", Address: "127.0.0.1", Port: tcpPort, Protocol: config.ProtocolTCP, Listeners: []config.Listener{{
				Name: "tcp", Protocol: config.ProtocolTCP, L4Routes: []config.L4Route{l4route("t", nil, "tcp")}}}},
			{Name: "tls", Address: "127.0.0.1", Port: tlsPort, Protocol: config.ProtocolTLS, Listeners: []config.Listener{{
				Name: "pass", Hostname: "*.example.com", Protocol: config.ProtocolTLS, TLS: &config.ListenerTLS{Mode: config.TLSModePassthrough},
				L4Routes: []config.L4Route{l4route("a", []string{"a.example.com"}, "a"), l4route("b", []string{"b.example.com"}, "b")}}}},
			{Name: "udp", Address: "127.0.0.1", Port: udpPort, Protocol: config.ProtocolUDP, Listeners: []config.Listener{{
				Name: "udp", Protocol: config.ProtocolUDP, L4Routes: []config.L4Route{l4route("u", nil, "udp")}}}},
		},
		Backends: []config.Backend{
			{Name: "tcp", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: tcpAddr}}},
			{Name: "a", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: aAddr}}},
			{Name: "b", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: bAddr}}},
			{Name: "udp", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: udpBackend.LocalAddr().String()}}},
		},
	})
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := roundTrip(t, c, "hi"); got != "tcp:hi" {
		t.Errorf("tcp: %q", got)
	}
	for _, name := range []string{"a", "b"} {
		// The backend terminates TLS: the client sees the backend's
		// certificate, proving the proxy passed the handshake through.
		tc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{RootCAs: ca.Pool(), ServerName: name + ".example.com"})
		if err != nil {
			t.Fatalf("passthrough %s: %v", name, err)
		}
		if got := roundTrip(t, tc, "hello"); got != name+":hello" {
			t.Errorf("passthrough %s: %q", name, got)
		}
		tc.Close()
	}
	uc, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := uc.Read(buf)
	if err != nil || string(buf[:n]) != "udp:ping" {
		t.Errorf("udp: %q %v", buf[:n], err)
	}
}

// TestTLSMixedModes: a Passthrough and a Terminate listener share one port (the Gateway API's
// TLSRouteModeMixed). The peeked SNI picks the route; the passthrough backend completes its
// own handshake, the terminate listener's connections are terminated by the proxy with the
// listener's certificate and forwarded in plaintext.
func TestTLSMixedModes(t *testing.T) {
	ca := testcerts.NewCA("mixed-ca")
	passAddr := tcpEcho(t, "pass", &tls.Config{Certificates: []tls.Certificate{ca.Issue("pass.example.com").TLS}})
	plainAddr := tcpEcho(t, "plain", nil)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{{Name: "tls", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolTLS, Listeners: []config.Listener{
			{Name: "pass", Hostname: "pass.example.com", Protocol: config.ProtocolTLS, TLS: &config.ListenerTLS{Mode: config.TLSModePassthrough},
				L4Routes: []config.L4Route{l4route("p", nil, "pass")}},
			{Name: "term", Hostname: "term.example.com", Protocol: config.ProtocolTLS,
				TLS:      &config.ListenerTLS{Mode: config.TLSModeTerminate, Certificates: []config.Certificate{cert(ca.Issue("term.example.com"))}},
				L4Routes: []config.L4Route{l4route("t", nil, "plain")}},
		}}},
		Backends: []config.Backend{
			{Name: "pass", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: passAddr}}},
			{Name: "plain", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: plainAddr}}},
		},
	})
	for _, tc := range []struct{ sni, want string }{{"pass.example.com", "pass:x"}, {"term.example.com", "plain:x"}} {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.Pool(), ServerName: tc.sni})
		if err != nil {
			t.Fatalf("%s: %v", tc.sni, err)
		}
		if got := roundTrip(t, c, "x"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.sni, got, tc.want)
		}
		c.Close()
	}
	// An SNI no listener claims is refused.
	if c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.Pool(), ServerName: "other.example.com"}); err == nil {
		c.Close()
		t.Error("handshake for an unclaimed SNI succeeded")
	}
}
