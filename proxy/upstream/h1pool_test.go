package upstream

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// acceptor counts and keeps the connections made to it.
func acceptor(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String(), accepted
}

func TestH1PoolReuseAndRelease(t *testing.T) {
	addr, accepted := acceptor(t)
	p := NewPool()
	set, err := p.Prepare([]config.Backend{{Name: "b", Endpoints: []config.Endpoint{{Address: addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Commit(set)
	b := set["b"]
	if !b.FastH1() {
		t.Fatal("plain HTTP/1.1 backend not eligible for the fast path")
	}
	ctx := context.Background()
	c1, ep, err := b.AcquireH1(ctx, "", false)
	if err != nil || c1.Reused || ep.InFlight() != 1 {
		t.Fatalf("first acquire: %v reused=%v inflight=%d", err, c1 != nil && c1.Reused, ep.InFlight())
	}
	b.ReleaseH1(c1, true)
	if ep.InFlight() != 0 {
		t.Fatalf("in flight after release: %d", ep.InFlight())
	}
	c2, _, err := b.AcquireH1(ctx, "", true)
	if err != nil || c2 != c1 || !c2.Reused {
		t.Fatalf("second acquire did not reuse the idle connection: %v", err)
	}
	b.ReleaseH1(c2, false) // closed, not pooled
	c3, _, err := b.AcquireH1(ctx, "", false)
	if err != nil || c3 == c1 {
		t.Fatalf("a connection released as not reusable was reused: %v", err)
	}
	b.ReleaseH1(c3, true)
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("connections made: %d, want 2", n)
	}

	// A backend replaced by one whose connections differ (TCP
	// keep-alive) closes its idle connections, and the ones its last
	// requests release.
	c4, _, err := b.AcquireH1(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	set2, err := p.Prepare([]config.Backend{{Name: "b", Resilience: &config.Resilience{TCPKeepalive: &config.UpstreamKeepalive{Probes: 3}}, Endpoints: []config.Endpoint{{Address: addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Commit(set2)
	b.ReleaseH1(c4, true)
	if n := len(ep.h1.idle); n != 0 {
		t.Fatalf("retired backend pools %d connections", n)
	}
}

func TestH1PoolDropsDeadAndOldConnections(t *testing.T) {
	addr, _ := acceptor(t)
	b := backendOf(t, config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: addr}}})
	ctx := context.Background()
	c, ep, err := b.AcquireH1(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	b.ReleaseH1(c, true)
	// Idle past the timeout: not handed out again.
	ep.h1.idle[0].idleSince -= int64(idleH1Timeout)
	if got := ep.h1.get(time.Now().UnixNano(), false); got != nil {
		t.Fatal("an expired connection was reused")
	}
	// Closed underneath: a checked acquire notices.
	c, _, err = b.AcquireH1(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	b.ReleaseH1(c, true)
	if err := c.NetConn().(*net.TCPConn).CloseRead(); err != nil {
		t.Fatal(err)
	}
	c.NetConn().Close()
	if got := ep.h1.get(time.Now().UnixNano(), true); got != nil {
		t.Fatal("a closed connection passed the check")
	}
	// The count limit drops the oldest.
	var conns []*H1Conn
	for i := 0; i < maxIdleH1+5; i++ {
		c, err := b.DialH1(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		b.ReleaseH1(c, true)
	}
	if n := len(ep.h1.idle); n != maxIdleH1 {
		t.Fatalf("idle connections: %d, want %d", n, maxIdleH1)
	}
	if ep.h1.idle[len(ep.h1.idle)-1] != conns[len(conns)-1] {
		t.Fatal("the newest connection is not on top")
	}
	b.CloseIdle()
	if n := len(ep.h1.idle); n != 0 {
		t.Fatalf("CloseIdle left %d", n)
	}
}

func TestH1NoEndpointsAndRefused(t *testing.T) {
	b := backendOf(t, config.Backend{Name: "b"})
	if _, _, err := b.AcquireH1(context.Background(), "", false); err == nil {
		t.Fatal("no error without endpoints")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b = backendOf(t, config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: addr}}})
	_, ep, err := b.AcquireH1(context.Background(), "", false)
	if err == nil || ep == nil || !ep.ejected(time.Now().UnixNano()) || ep.InFlight() != 0 {
		t.Fatalf("refused dial: err %v, ejected %v", err, ep != nil && ep.ejected(time.Now().UnixNano()))
	}
}
