package dataplane

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestPerTryTimeout: timeouts.backendRequest bounds each attempt, not the
// request. An attempt that hangs is cut off and retried on the next
// attempt; without retries, or when every attempt hangs, the client gets
// 504; each attempt the backend saw was cancelled by the proxy.
func TestPerTryTimeout(t *testing.T) {
	var calls atomic.Int64
	cancelled := make(chan struct{}, 16)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.URL.Path == "/first-hangs/" && n > 1 {
			fmt.Fprint(w, "second try")
			return
		}
		// Hang until the proxy gives up on the attempt.
		<-r.Context().Done()
		cancelled <- struct{}{}
	}))
	defer backend.Close()
	port := freePort(t)
	rt := newRuntime(t)
	perTry := config.D(150 * time.Millisecond)
	retry := &config.Retry{Attempts: 2, Backoff: config.D(time.Millisecond)}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/first-hangs/"), BackendRefs: to("b"), Retry: retry,
				Timeouts: &config.Timeouts{BackendRequest: perTry, Request: config.D(5 * time.Second)}},
			config.HTTPRouteRule{Matches: pathPrefix("/no-retry/"), BackendRefs: to("b"), Timeouts: &config.Timeouts{BackendRequest: perTry}},
			config.HTTPRouteRule{Matches: pathPrefix("/all-hang/"), BackendRefs: to("b"), Retry: retry, Timeouts: &config.Timeouts{BackendRequest: perTry}},
		)}})},
		Backends: []config.Backend{be("b", backend.Listener.Addr().String())},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &http.Client{Timeout: 10 * time.Second}

	start := time.Now()
	r := get(t, c, base+"/first-hangs/", "")
	took := time.Since(start)
	if r.code != 200 || r.body != "second try" || calls.Load() != 2 {
		t.Fatalf("first attempt hangs: %d %q after %d calls", r.code, r.body, calls.Load())
	}
	if took < 150*time.Millisecond || took > 3*time.Second {
		t.Errorf("first attempt hangs: answered after %v, want just over the 150ms per-try timeout", took)
	}

	calls.Store(0)
	if r := get(t, c, base+"/no-retry/", ""); r.code != http.StatusGatewayTimeout || calls.Load() != 1 {
		t.Errorf("no retry: %d after %d calls, want 504 after 1", r.code, calls.Load())
	}

	calls.Store(0)
	start = time.Now()
	if r := get(t, c, base+"/all-hang/", ""); r.code != http.StatusGatewayTimeout || calls.Load() != 3 {
		t.Errorf("all attempts hang: %d after %d calls, want 504 after 3", r.code, calls.Load())
	}
	if took := time.Since(start); took < 3*150*time.Millisecond {
		t.Errorf("all attempts hang: answered after %v, before three per-try timeouts", took)
	}
	// Every hung attempt (1 + 1 + 3) was cut off by the proxy.
	timeout := time.After(5 * time.Second)
	for i := 0; i < 5; i++ {
		select {
		case <-cancelled:
		case <-timeout:
			t.Fatalf("only %d of 5 hung attempts were cancelled by the proxy", i)
		}
	}
}
