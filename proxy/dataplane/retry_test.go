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

// TestRetryBudgetAccounting drives a budget at a fixed instant: requests
// first, then retry reservations from many goroutines at once. However
// many run concurrently, the granted retries never exceed the budget
// (max of percent of the requests and the minimum), and once the
// contention is over the budget is used in full.
func TestRetryBudgetAccounting(t *testing.T) {
	cases := []struct {
		name        string
		budget      config.RetryBudget
		requests    int
		concurrency int
		want        int64
	}{
		{"20 percent, serial", config.RetryBudget{Percent: 20}, 100, 1, 20},
		{"20 percent, 16 at once", config.RetryBudget{Percent: 20}, 100, 16, 20},
		{"20 percent, 64 at once", config.RetryBudget{Percent: 20}, 1000, 64, 200},
		{"rounds down", config.RetryBudget{Percent: 20}, 9, 4, 1},
		{"zero percent, no minimum", config.RetryBudget{Percent: 0}, 100, 8, 0},
		{"zero percent, minimum 3", config.RetryBudget{Percent: 0, MinRetries: 3}, 100, 8, 3},
		{"no traffic, minimum 10", config.RetryBudget{Percent: 50, MinRetries: 10}, 0, 32, 10},
		{"minimum is a floor, not added", config.RetryBudget{Percent: 50, MinRetries: 10}, 100, 32, 50},
		{"minimum above the share", config.RetryBudget{Percent: 10, MinRetries: 25}, 100, 32, 25},
		{"100 percent", config.RetryBudget{Percent: 100}, 50, 16, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newRetryBudget(&tc.budget)
			const now = int64(5 * time.Second)
			for range tc.requests {
				b.request(now)
			}
			var granted atomic.Int64
			limit := max(tc.budget.MinRetries, tc.requests*tc.budget.Percent/100)
			var wg sync.WaitGroup
			for range tc.concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 2 * (limit + 10) {
						if b.reserve(now) {
							granted.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if got := granted.Load(); got > tc.want {
				t.Fatalf("%d goroutines were granted %d retries, the budget is %d", tc.concurrency, got, tc.want)
			}
			// Contention may refuse a retry the budget had room for (both
			// racers saw the other's reservation); never the reverse. A
			// serial top-up shows the room was kept.
			for b.reserve(now) {
				granted.Add(1)
			}
			if got := granted.Load(); got != tc.want {
				t.Errorf("granted %d retries in total, want %d", got, tc.want)
			}
		})
	}
}

// TestRetryBudgetWindows checks that counts age out: requests and retries
// older than the interval no longer count, the minimum renews every
// minimum interval, and a refused reservation leaves no trace.
func TestRetryBudgetWindows(t *testing.T) {
	b := newRetryBudget(&config.RetryBudget{Percent: 50, Interval: config.D(10 * time.Second), MinRetries: 2, MinRetryInterval: config.D(time.Second)})
	sec := int64(time.Second)
	at := func(s float64) int64 { return int64(s * float64(sec)) }

	for range 10 {
		b.request(at(0))
	}
	n := 0
	for b.reserve(at(0.5)) {
		n++
	}
	if n != 5 {
		t.Fatalf("10 requests at 50%%: %d retries, want 5", n)
	}
	// Still inside the interval: no new room, the minimum is spent too.
	if b.reserve(at(0.9)) {
		t.Fatal("retry granted past the budget")
	}
	// One minimum interval later the minimum renews (2), though the
	// percentage is still spent.
	n = 0
	for b.reserve(at(2)) {
		n++
	}
	if n != 2 {
		t.Fatalf("after the minimum interval: %d retries, want 2", n)
	}
	// Past the interval everything above has aged out: 4 new requests
	// fund 2 retries, and the minimum (2 per second) is not added to them.
	for range 4 {
		b.request(at(12))
	}
	n = 0
	for b.reserve(at(12.5)) {
		n++
	}
	if n != 2 {
		t.Fatalf("after the interval: %d retries, want 2", n)
	}
	if got := b.retries.sum(at(12.5)); got != 2 {
		t.Errorf("refused reservations left counts behind: %d retries counted, want 2", got)
	}
}

// TestBudgetSetKeepsCounts checks that a reload with the same budget and
// scope keeps its counts, and that a changed budget starts over.
func TestBudgetSetKeepsCounts(t *testing.T) {
	s := newBudgetSet()
	c := &config.RetryBudget{Percent: 20}
	s.begin()
	b1 := s.get("backend\x00a", c)
	s.commit()
	s.begin()
	if b2 := s.get("backend\x00a", &config.RetryBudget{Percent: 20}); b2 != b1 {
		t.Error("an unchanged budget was replaced on reload")
	}
	if b3 := s.get("backend\x00b", c); b3 == b1 {
		t.Error("two scopes share one budget")
	}
	s.commit()
	s.begin()
	if b4 := s.get("backend\x00a", &config.RetryBudget{Percent: 30}); b4 == b1 {
		t.Error("a changed budget kept its old state")
	}
	s.commit()
	if len(s.all) != 1 {
		t.Errorf("unused budgets kept: %d", len(s.all))
	}
}

// BenchmarkRetryBudget measures the per-request cost: one request count
// and one reservation.
func BenchmarkRetryBudget(b *testing.B) {
	budget := newRetryBudget(&config.RetryBudget{Percent: 20, MinRetries: 10})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := monoNow()
			budget.request(now)
			budget.reserve(now)
		}
	})
}

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
