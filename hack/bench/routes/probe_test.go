package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestProber runs the prober against a real server: codes and the echo server's pod come
// through, connections are kept alive and reused, and a connection the server closes is
// replaced.
func TestProber(t *testing.T) {
	var conns, garbled atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Host != "7.example.com":
			http.NotFound(w, r)
		case r.URL.Path == "/garbled":
			garbled.Add(1)
			nc, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if _, err := nc.Write([]byte("HTTP/1.1 abc\r\n\r\n")); err != nil {
					t.Error(err)
				}
				nc.Close()
			}
		case r.URL.Path == "/hang":
			<-release
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

	// A malformed answer on a reused connection is a failed probe, not sent again.
	p.get(ctx, "7.example.com", "/7", false)
	if a := p.get(ctx, "7.example.com", "/garbled", false); a.code != 0 || a.err == nil || garbled.Load() != 1 {
		t.Errorf("malformed answer: code %d err %v, sent %d times; want a failed request sent once", a.code, a.err, garbled.Load())
	}

	// Cancelling the context ends a wait for an answer at once.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	t0 := time.Now()
	if a := p.get(cctx, "7.example.com", "/hang", false); a.code != 0 || a.err == nil {
		t.Errorf("cancelled probe: code %d err %v, want a failed request", a.code, a.err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("cancelled probe returned after %v, want about 50ms", d)
	}
	close(release)

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
