package runtime

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
					fmt.Fprintf(c, "%s:%s", name, line)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s\n", msg)
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
			udpBackend.WriteTo(append([]byte("udp:"), buf[:n]...), from)
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
	uc.Write([]byte("ping"))
	buf := make([]byte, 64)
	n, err := uc.Read(buf)
	if err != nil || string(buf[:n]) != "udp:ping" {
		t.Errorf("udp: %q %v", buf[:n], err)
	}
}
