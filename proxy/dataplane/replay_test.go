package dataplane

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream/upstreamtest"
)

// TestFastPathResetReplayedOnAnotherEndpoint: of two endpoints, one resets
// every request before answering. Requests without a body all succeed,
// served by the other endpoint; a POST whose body was sent is answered
// 502 and not sent again.
func TestFastPathResetReplayedOnAnotherEndpoint(t *testing.T) {
	dying, heads := upstreamtest.Resetting(t)
	var served atomic.Int64
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		if _, err := w.Write([]byte("ok")); err != nil {
			t.Errorf("write: %v", err)
		}
	}))
	defer live.Close()
	b := be("b", dying, live.Listener.Addr().String())
	// Ejection off, so requests keep meeting the resetting endpoint.
	b.Resilience = &config.Resilience{OutlierDetection: &config.OutlierDetection{ConsecutiveLocalOriginFailures: new(int)}}
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, b))
	rc := dialRaw(t, port)
	const n = 40
	for i := range n {
		raw := get1("/get")
		if i%2 == 1 {
			raw = "DELETE /d HTTP/1.1\r\nHost: x\r\n\r\n"
		}
		rc.send(raw)
		resp, body := rc.read("")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if served.Load() != n {
		t.Fatalf("live endpoint served %d, want %d", served.Load(), n)
	}
	if heads.Load() == 0 {
		t.Fatal("no request met the resetting endpoint")
	}
	// POSTs with a body, each on its own connection, until one meets the
	// resetting endpoint: that one is answered 502, not replayed.
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatal("no POST met the resetting endpoint")
		}
		before, beforeServed := heads.Load(), served.Load()
		pc := dialRaw(t, port)
		pc.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\npayload")
		resp, _ := pc.read("POST")
		if heads.Load() == before {
			if resp.StatusCode != 200 {
				t.Fatalf("POST to the live endpoint: %d", resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusBadGateway || served.Load() != beforeServed {
			t.Fatalf("POST with a body sent to the resetting endpoint: %d, live endpoint served %d more", resp.StatusCode, served.Load()-beforeServed)
		}
		break
	}
}
