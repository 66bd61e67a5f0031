package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer answers like the echo backend (pod name and request headers as JSON), or
// with 503 while fail is set; it listens on loopback. It sends on answered every 20th
// answer of either kind after the other kind (so once per phase of the test).
func echoServer(t *testing.T, fail *atomic.Bool, answered chan<- bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n, last := 0, false
	count := func(failed bool) {
		mu.Lock()
		defer mu.Unlock()
		if failed != last {
			n, last = 0, failed
		}
		if n++; n == 20 {
			answered <- failed
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != routeHost {
			http.Error(w, "wrong host "+r.Host, http.StatusNotFound)
			return
		}
		failed := fail.Load()
		defer count(failed)
		if failed {
			w.Header().Set("Server", "test")
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		h := map[string][]string{changeHeader: {"7"}}
		if err := json.NewEncoder(w).Encode(map[string]any{"pod": "echo-abc-1", "headers": h}); err != nil {
			t.Error(err)
		}
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestTrafficCountsByPhase runs the clients against a real server that answers 200, then
// 503: each phase counts only the requests started in it, by class, and the change
// number in the echoed headers is seen.
func TestTrafficCountsByPhase(t *testing.T) {
	var fail atomic.Bool
	answered := make(chan bool, 1)
	addr := echoServer(t, &fail, answered)
	tr := newTraffic(addr, routeHost, 2, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := tr.start(ctx)
	t.Cleanup(func() { cancel(); <-done })

	wait := func(failed bool) {
		t.Helper()
		select {
		case got := <-answered:
			if got != failed {
				t.Fatalf("20 answers with failed=%v, want failed=%v", got, failed)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no 20 answers with failed=%v in 10s", failed)
		}
	}
	good := tr.begin("good")
	wait(false)
	fail.Store(true)
	bad := tr.begin("bad")
	wait(true)
	tr.end()
	cancel()
	<-done

	if good.failed != 0 {
		t.Errorf("good phase: %d failed requests: %v", good.failed, good.errs)
	}
	// A request started in "good" may be answered after the switch: at most one per client.
	if good.non2xx > 2 || good.ok < 18 {
		t.Errorf("good phase: %d 2xx, %d non-2xx", good.ok, good.non2xx)
	}
	if good.pods["echo-abc-1"] != good.ok {
		t.Errorf("good phase: 2xx by pod %v, want all %d from echo-abc-1", good.pods, good.ok)
	}
	if got := tr.lastChange.Load(); got != 7 {
		t.Errorf("last change seen %d, want 7", got)
	}
	// Of the 20 failed answers the server sent, up to one per client went to a request of
	// the good phase and up to one per client was still on its way when the phase ended.
	if bad.ok > 2 || bad.codes[http.StatusServiceUnavailable] < 16 {
		t.Errorf("bad phase: %d 2xx, codes %v", bad.ok, bad.codes)
	}
	if len(bad.samples) == 0 || bad.samples[0].server != "test" || !strings.Contains(bad.samples[0].body, "no healthy upstream") {
		t.Errorf("bad phase samples %+v, want the 503's Server header and body", bad.samples)
	}
}

// TestTrafficCountsRefused counts requests to a closed port as failures by cause.
func TestTrafficCountsRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	tr := newTraffic(addr, routeHost, 1, 0)
	pc := tr.begin("refused")
	hc := &http.Client{}
	pc.add(tr.get(context.Background(), hc))
	if pc.failed != 1 || pc.non2xx != 0 {
		t.Fatalf("failed %d, non-2xx %d; want 1 failure", pc.failed, pc.non2xx)
	}
	if _, ok := pc.errs["dial: connect: connection refused"]; !ok {
		t.Errorf("failures by cause %v, want dial: connect: connection refused", pc.errs)
	}
}
