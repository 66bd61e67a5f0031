package upstream

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream/upstreamtest"
)

func TestResetRequestReplayedOnAnotherEndpoint(t *testing.T) {
	live := newHealthServer(t)
	dying, heads := upstreamtest.Resetting(t)
	for _, h1 := range []bool{true, false} {
		name := "replay-h1"
		if !h1 {
			name = "replay-transport"
		}
		t.Run(name, func(t *testing.T) {
			b := backendOf(t, config.Backend{Name: name, Endpoints: []config.Endpoint{{Address: dying}, {Address: live.addr()}},
				// Ejection off, so every request meets the resetting endpoint.
				Resilience: &config.Resilience{OutlierDetection: &config.OutlierDetection{ConsecutiveLocalOriginFailures: intp(0)}}})
			if !h1 {
				DisableH1Client.Store(true)
				defer DisableH1Client.Store(false)
			}
			do := func(method, body string) (*http.Response, error) {
				var req *http.Request
				var err error
				if body == "" {
					req, err = http.NewRequest(method, "http://placeholder/x", nil)
				} else {
					req, err = http.NewRequest(method, "http://placeholder/x", strings.NewReader(body))
				}
				if err != nil {
					t.Fatal(err)
				}
				req.GetBody = nil // as on a proxied request
				req = req.WithContext(WithPick(req.Context(), &Picked{Prefer: dying}))
				return b.RoundTrip(req)
			}
			replays := testutil.ToFloat64(replaysTotal.WithLabelValues(name, replayReset)) + testutil.ToFloat64(replaysTotal.WithLabelValues(name, replayEOF))
			served, reset := live.requests.Load(), heads.Load()
			// Every connection to the dying endpoint is new: a reset on a
			// fresh connection is replayed for idempotent methods.
			methods := []string{"GET", "HEAD", "DELETE", "OPTIONS"}
			for i := range 20 {
				m := methods[i%len(methods)]
				resp, err := do(m, "")
				if err != nil {
					t.Fatalf("%s %d: %v", m, i, err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s %d: status %d", m, i, resp.StatusCode)
				}
			}
			if got := live.requests.Load() - served; got != 20 {
				t.Fatalf("live endpoint served %d requests, want 20", got)
			}
			if got := heads.Load() - reset; got != 20 {
				t.Fatalf("dying endpoint read %d requests, want 20", got)
			}
			got := testutil.ToFloat64(replaysTotal.WithLabelValues(name, replayReset)) + testutil.ToFloat64(replaysTotal.WithLabelValues(name, replayEOF)) - replays
			if got != 20 {
				t.Fatalf("replays metric %v, want 20", got)
			}
			// A POST is not idempotent: the dying endpoint may have acted
			// on it, so a new connection's reset is not replayed, with or
			// without a body.
			served = live.requests.Load()
			if resp, err := do("POST", ""); err == nil {
				resp.Body.Close()
				t.Fatalf("POST without a body replayed after a new connection's reset: status %d", resp.StatusCode)
			}
			if live.requests.Load() != served {
				t.Fatal("POST without a body reached the other endpoint")
			}
			if resp, err := do("POST", "payload"); err == nil {
				resp.Body.Close()
				t.Fatalf("POST with a body replayed: status %d", resp.StatusCode)
			}
			if live.requests.Load() != served {
				t.Fatal("POST with a body reached the other endpoint")
			}
			if h1 {
				// An idempotent request's body is at hand: it is replayed.
				resp, err := do("PUT", "payload")
				if err != nil {
					t.Fatalf("PUT: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("PUT: status %d", resp.StatusCode)
				}
			}
		})
	}
	// With the default outlier detection the reset of a new connection
	// is a local-origin failure that ejects the endpoint.
	ej := backendOf(t, config.Backend{Name: "replay-eject", Endpoints: []config.Endpoint{{Address: dying}, {Address: live.addr()}}})
	if resp := get(t, ej, dying); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !ej.byAddr[dying].ejected(time.Now().UnixNano()) {
		t.Fatal("endpoint that reset a new connection not ejected")
	}
	// With connect retries off, nothing is replayed.
	off := backendOf(t, config.Backend{Name: "replay-off", Endpoints: []config.Endpoint{{Address: dying}, {Address: live.addr()}},
		Resilience: &config.Resilience{ConnectRetries: intp(0)}})
	req, err := http.NewRequest("GET", "http://placeholder/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(WithPick(req.Context(), &Picked{Prefer: dying}))
	if resp, err := off.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Fatal("replayed with connectRetries 0")
	}
}
