package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestRetryBudgetOverSockets sends many concurrent requests through the
// proxy to a backend that always fails. Without a budget every request
// would be retried twice; with one the backend sees at most the budgeted
// share of retries, and requests whose retry is refused get 503 from the
// proxy. The backend's budget counts the requests of a rule that never
// retries too.
func TestRetryBudgetOverSockets(t *testing.T) {
	var hits, ruleHits, backendHits atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch {
		case strings.HasPrefix(r.URL.Path, "/rule"):
			ruleHits.Add(1)
		case strings.HasPrefix(r.URL.Path, "/backend"):
			backendHits.Add(1)
		case strings.HasPrefix(r.URL.Path, "/plain"):
			return // 200: traffic that funds the backend's budget
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "backend failing")
	}))
	defer failing.Close()
	retry := func(b *config.RetryBudget) *config.Retry {
		return &config.Retry{Attempts: 2, Codes: []int{503}, Backoff: config.D(time.Millisecond), Budget: b}
	}
	limited := be("limited", failing.Listener.Addr().String())
	// A minute-long interval: a slow run on a loaded machine must not let
	// early requests age out of the count.
	limited.RetryBudget = &config.RetryBudget{Percent: 10, Interval: config.D(time.Minute)}
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/rule"), BackendRefs: to("f"), Retry: retry(&config.RetryBudget{Percent: 20, Interval: config.D(time.Minute)})},
			config.HTTPRouteRule{Matches: pathPrefix("/backend"), BackendRefs: to("limited"), Retry: retry(nil)},
			config.HTTPRouteRule{Matches: pathPrefix("/plain"), BackendRefs: to("limited")},
		)}})},
		Backends: []config.Backend{be("f", failing.Listener.Addr().String()), limited},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 10 * time.Second}

	// run sends n requests to path, 16 at a time, and counts the answers
	// refused by the budget.
	run := func(path string, n int) (refused int64) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		next := 0
		var failures []string
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if next == n {
						mu.Unlock()
						return
					}
					next++
					mu.Unlock()
					resp, err := client.Get(base + path)
					if err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
						continue
					}
					body, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					switch {
					case resp.StatusCode == 503 && strings.Contains(string(body), "retry budget exhausted"):
						atomic.AddInt64(&refused, 1)
					case resp.StatusCode == 503 && string(body) == "backend failing":
					case strings.HasPrefix(path, "/plain") && resp.StatusCode == 200:
					default:
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s: %d %q", path, resp.StatusCode, body))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("unexpected answers: %v", failures[:min(5, len(failures))])
		}
		return refused
	}

	const n = 400
	refused := run("/rule", n)
	retries := ruleHits.Load() - n
	// 20% of 400 requests: 80 retries at most, though 800 were wanted.
	if retries > n*20/100 {
		t.Errorf("rule budget: %d retries reached the backend for %d requests, budget is %d", retries, n, n*20/100)
	}
	if retries < n*20/100/2 {
		t.Errorf("rule budget: only %d retries for %d requests; the budget allows %d", retries, n, n*20/100)
	}
	if refused < n-retries {
		t.Errorf("rule budget: %d requests refused with 503, want at least %d (every request whose retry was refused)", refused, n-retries)
	}
	t.Logf("rule budget: %d requests, %d retries, %d refused", n, retries, refused)

	// The backend's 10% budget is funded by the rule that does not retry:
	// 200 plain requests and 100 failing ones allow 30 retries.
	run("/plain", 200)
	refused = run("/backend", 100)
	retries = backendHits.Load() - 100
	if retries > 30 {
		t.Errorf("backend budget: %d retries, budget is 30 (10%% of 300 requests)", retries)
	}
	if retries < 15 {
		t.Errorf("backend budget: only %d retries; requests of the rule without retries must count", retries)
	}
	if refused < 100-retries {
		t.Errorf("backend budget: %d refused, want at least %d", refused, 100-retries)
	}
	t.Logf("backend budget: %d retries, %d refused", retries, refused)
}
