package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestProber runs the prober against a real server: codes and the echo server's pod come
// through, connections are kept alive and reused, and a connection the server closes is
// replaced.
func TestProber(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Host != "7.example.com":
			http.NotFound(w, r)
		case r.URL.Path == "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case r.URL.Path == "/7":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"pod":"echo-a-1"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p := newProber(srv.Listener.Addr().String(), 2)
	ctx := context.Background()

	for i := range 20 {
		a := p.get(ctx, "7.example.com", "/7", true)
		if a.code != 200 || a.pod != "echo-a-1" || a.err != nil {
			t.Fatalf("probe %d: code %d pod %q err %v; want 200 from echo-a-1", i, a.code, a.pod, a.err)
		}
		if a.end.Before(a.start) {
			t.Fatalf("probe %d: ends before it starts", i)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 probes one after the other used %d connections, want 1", n)
	}
	if a := p.get(ctx, "8.example.com", "/8", false); a.code != 404 || a.err != nil {
		t.Errorf("unknown host: code %d err %v, want 404", a.code, a.err)
	}
	if a := p.get(ctx, "7.example.com", "/close", false); a.code != 200 || a.err != nil {
		t.Errorf("closing answer: code %d err %v, want 200", a.code, a.err)
	}
	before := conns.Load()
	if a := p.get(ctx, "7.example.com", "/7", false); a.code != 200 {
		t.Errorf("after the server closed: code %d err %v, want 200", a.code, a.err)
	}
	if conns.Load() != before+1 {
		t.Errorf("after the server closed its connection: %d new connections, want 1", conns.Load()-before)
	}

	// Idle keep-alive connections the server drops are replaced without a failed probe.
	srv.CloseClientConnections()
	if a := p.get(ctx, "7.example.com", "/7", false); a.code != 200 || a.err != nil {
		t.Errorf("after the server dropped idle connections: code %d err %v, want 200", a.code, a.err)
	}

	srv.Close()
	if a := p.get(ctx, "7.example.com", "/7", false); a.code != 0 || a.err == nil {
		t.Errorf("server gone: code %d err %v, want a failed request", a.code, a.err)
	}
}
