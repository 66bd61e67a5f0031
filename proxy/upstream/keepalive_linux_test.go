package upstream

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// sockopts reads the keep-alive options of a TCP connection.
func sockopts(t *testing.T, c net.Conn) (on, idle, interval, count int) {
	t.Helper()
	if cc, ok := c.(*countedConn); ok {
		c = cc.Conn
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errs [4]error
	err = raw.Control(func(fd uintptr) {
		on, errs[0] = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, errs[1] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		interval, errs[2] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		count, errs[3] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
	return on, idle, interval, count
}

func TestTCPKeepaliveOnBackendConnections(t *testing.T) {
	addr, _ := acceptor(t)
	b := backendOf(t, config.Backend{Name: "ka", Endpoints: []config.Endpoint{{Address: addr}},
		Resilience: &config.Resilience{TCPKeepalive: &config.UpstreamKeepalive{Time: config.D(42 * time.Second), Interval: config.D(7 * time.Second), Probes: 3}}})
	c, _, err := b.AcquireH1(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.ReleaseH1(c, false)
	if on, idle, interval, count := sockopts(t, c.NetConn()); on == 0 || idle != 42 || interval != 7 || count != 3 {
		t.Fatalf("keepalive on=%d idle=%d interval=%d count=%d, want on 42 7 3", on, idle, interval, count)
	}
	// The Transport's connections (TLS, HTTP/2, other requests) dial the
	// same way.
	nc, err := b.transport.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if on, idle, _, _ := sockopts(t, nc); on == 0 || idle != 42 {
		t.Fatalf("transport dial: keepalive on=%d idle=%d", on, idle)
	}
	// Without settings: probes after 30s idle, as before.
	d := backendOf(t, config.Backend{Name: "ka-default", Endpoints: []config.Endpoint{{Address: addr}}})
	c2, _, err := d.AcquireH1(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.ReleaseH1(c2, false)
	if on, idle, _, _ := sockopts(t, c2.NetConn()); on == 0 || idle != 30 {
		t.Fatalf("default keepalive on=%d idle=%d", on, idle)
	}
}
