package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// TestAccessLogL4: one line per TCP connection, TLS passthrough
// connection and UDP session as it ends, with its listener, route,
// endpoint, bytes each way and how it ended.
func TestAccessLogL4(t *testing.T) {
	ca := testcerts.NewCA("l4-ca")
	tcpAddr := tcpEcho(t, "tcp", nil)
	aAddr := tcpEcho(t, "a", &tls.Config{Certificates: []tls.Certificate{ca.Issue("a.example.com").TLS}})
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
	sink := newLineSink(t)
	rt := newRuntimeWith(t, Options{AccessLog: true, AccessLogOutput: sink})
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{
			{Name: "tcp", Address: "127.0.0.1", Port: tcpPort, Protocol: config.ProtocolTCP, Listeners: []config.Listener{{
				Name: "tcp-l", Protocol: config.ProtocolTCP, L4Routes: []config.L4Route{l4route("t", nil, "tcp")}}}},
			{Name: "tls", Address: "127.0.0.1", Port: tlsPort, Protocol: config.ProtocolTLS, Listeners: []config.Listener{{
				Name: "pass", Hostname: "*.example.com", Protocol: config.ProtocolTLS, TLS: &config.ListenerTLS{Mode: config.TLSModePassthrough},
				L4Routes: []config.L4Route{l4route("a", []string{"a.example.com"}, "a")}}}},
			{Name: "udp", Address: "127.0.0.1", Port: udpPort, Protocol: config.ProtocolUDP, Listeners: []config.Listener{{
				Name: "udp-l", Protocol: config.ProtocolUDP, L4Routes: []config.L4Route{l4route("u", nil, "udp")}}}},
		},
		Backends: []config.Backend{
			{Name: "tcp", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: tcpAddr}}},
			{Name: "a", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: aAddr}}},
			{Name: "udp", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: udpBackend.LocalAddr().String()}}},
		},
	})
	isKind := func(k string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["kind"] == k }
	}

	// TCP: the client sends "hi\n", reads "tcp:hi\n" and closes; the echo
	// backend then closes too.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "hi"); got != "tcp:hi" {
		t.Fatalf("tcp: %q", got)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	lines := sink.until(t, isKind("tcp"))
	checkFields(t, "tcp", lines[len(lines)-1], map[string]any{
		"bind": "tcp", "listener": "tcp-l", "route": "default/t", "upstream": tcpAddr, "client": c.LocalAddr().String(),
		"bytes_received": 3.0, "bytes_sent": 7.0, "reason": "closed", "duration_ms": "present", "time": "present", "sni": nil,
	})

	// TLS passthrough, then a name without a route.
	tc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, tc, "hello"); got != "a:hello" {
		t.Fatalf("passthrough: %q", got)
	}
	tc.Close()
	m := sink.until(t, isKind("tls"))
	pass := m[len(m)-1]
	checkFields(t, "tls", pass, map[string]any{"listener": "pass", "route": "default/a", "sni": "a.example.com", "upstream": aAddr})
	if in, _ := pass["bytes_received"].(float64); in < 100 {
		t.Errorf("passthrough: %v bytes received, want the handshake's and more", pass["bytes_received"])
	}
	if r := pass["reason"]; r != "closed" && r != "reset" {
		t.Errorf("passthrough reason %v", r)
	}
	if _, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{RootCAs: ca.Pool(), ServerName: "nope.example.com"}); err == nil {
		t.Fatal("a name without a route was served")
	}
	m = sink.until(t, isKind("tls"))
	checkFields(t, "no route", m[len(m)-1], map[string]any{"listener": "", "route": "", "sni": "nope.example.com", "reason": "no_route", "upstream": nil, "bytes_received": 0.0})

	// UDP: the session ends when the proxy shuts down.
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
	if n, err := uc.Read(buf); err != nil || string(buf[:n]) != "udp:ping" {
		t.Fatalf("udp: %q %v", buf[:n], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	m = sink.until(t, isKind("udp"))
	checkFields(t, "udp", m[len(m)-1], map[string]any{
		"listener": "udp-l", "route": "default/u", "upstream": udpBackend.LocalAddr().String(), "client": uc.LocalAddr().String(),
		"bytes_received": 4.0, "bytes_sent": 8.0, "datagrams_received": 1.0, "datagrams_sent": 1.0, "reason": "shutdown",
	})
}
