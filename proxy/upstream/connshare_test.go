package upstream

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// countingServer answers "ok" and counts the connections it accepted.
func countingServer(t *testing.T) (addr string, accepts *atomic.Int64) {
	t.Helper()
	accepts = &atomic.Int64{}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if _, err := io.WriteString(w, "ok"); err != nil {
			t.Errorf("write: %v", err)
		}
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepts.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String(), accepts
}

func getOK(t *testing.T, b *Backend, prefer string) {
	t.Helper()
	if resp := get(t, b, prefer); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestRebuiltBackendKeepsIdleConnections: a config change that rebuilds a
// backend (here an added endpoint) keeps the idle connections of the
// endpoints that stay; one that changes how connections are made (TCP
// keep-alive) and a removed endpoint close them.
func TestRebuiltBackendKeepsIdleConnections(t *testing.T) {
	a, acceptsA := countingServer(t)
	c, acceptsC := countingServer(t)
	p := NewPool()
	t.Cleanup(p.Close)
	apply := func(cfg config.Backend) *Backend {
		t.Helper()
		set, err := p.Prepare([]config.Backend{cfg})
		if err != nil {
			t.Fatal(err)
		}
		p.Commit(set)
		return set[cfg.Name]
	}
	b1 := apply(config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: a}}})
	getOK(t, b1, a)
	getOK(t, b1, a)
	if n := acceptsA.Load(); n != 1 {
		t.Fatalf("endpoint a accepted %d connections, want 1", n)
	}
	// An endpoint added: b is rebuilt and reuses a's connection.
	b2 := apply(config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: a}, {Address: c}}})
	if b2 == b1 {
		t.Fatal("backend not rebuilt")
	}
	getOK(t, b2, a)
	if n := acceptsA.Load(); n != 1 {
		t.Fatalf("after the change endpoint a accepted %d connections, want 1 (reused)", n)
	}
	getOK(t, b2, c)
	// A discarded set (a config that failed later) leaves the live
	// backend's connections alone.
	set, err := p.Prepare([]config.Backend{{Name: "b", Endpoints: []config.Endpoint{{Address: a}}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Discard(set)
	getOK(t, b2, a)
	getOK(t, b2, c)
	if na, nc := acceptsA.Load(), acceptsC.Load(); na != 1 || nc != 1 {
		t.Fatalf("after a discarded set: accepts a=%d c=%d, want 1 and 1", na, nc)
	}
	// Other TCP keep-alive settings: new connections.
	b3 := apply(config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: a}, {Address: c}},
		Resilience: &config.Resilience{TCPKeepalive: &config.UpstreamKeepalive{Probes: 3}}})
	getOK(t, b3, a)
	if n := acceptsA.Load(); n != 2 {
		t.Fatalf("after a keep-alive change endpoint a accepted %d connections, want 2", n)
	}
}
