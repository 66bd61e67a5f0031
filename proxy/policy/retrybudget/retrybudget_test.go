package retrybudget

import (
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
			b := New(&tc.budget)
			const now = int64(5 * time.Second)
			for range tc.requests {
				b.CountRequest(now)
			}
			var granted atomic.Int64
			limit := max(tc.budget.MinRetries, tc.requests*tc.budget.Percent/100)
			var wg sync.WaitGroup
			for range tc.concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 2 * (limit + 10) {
						if b.Reserve(now) {
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
			for b.Reserve(now) {
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
	b := New(&config.RetryBudget{Percent: 50, Interval: config.D(10 * time.Second), MinRetries: 2, MinRetryInterval: config.D(time.Second)})
	sec := int64(time.Second)
	at := func(s float64) int64 { return int64(s * float64(sec)) }

	for range 10 {
		b.CountRequest(at(0))
	}
	n := 0
	for b.Reserve(at(0.5)) {
		n++
	}
	if n != 5 {
		t.Fatalf("10 requests at 50%%: %d retries, want 5", n)
	}
	// Still inside the interval: no new room, the minimum is spent too.
	if b.Reserve(at(0.9)) {
		t.Fatal("retry granted past the budget")
	}
	// One minimum interval later the minimum renews (2), though the
	// percentage is still spent.
	n = 0
	for b.Reserve(at(2)) {
		n++
	}
	if n != 2 {
		t.Fatalf("after the minimum interval: %d retries, want 2", n)
	}
	// Past the interval everything above has aged out: 4 new requests
	// fund 2 retries, and the minimum (2 per second) is not added to them.
	for range 4 {
		b.CountRequest(at(12))
	}
	n = 0
	for b.Reserve(at(12.5)) {
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
	c := &config.RetryBudget{Percent: 20}
	st := NewSet().Stage()
	b1 := st.Get("backend\x00a", c)
	st.Commit()
	st = st.Stage()
	if b2 := st.Get("backend\x00a", &config.RetryBudget{Percent: 20}); b2 != b1 {
		t.Error("an unchanged budget was replaced on reload")
	}
	if b3 := st.Get("backend\x00b", c); b3 == b1 {
		t.Error("two scopes share one budget")
	}
	st.Commit()
	st = st.Stage()
	if b4 := st.Get("backend\x00a", &config.RetryBudget{Percent: 30}); b4 == b1 {
		t.Error("a changed budget kept its old state")
	}
	st.Commit()
	if n := len(st.Snapshot()); n != 1 {
		t.Errorf("unused budgets kept: %d", n)
	}
}

// BenchmarkRetryBudget measures the per-request cost: one request count
// and one reservation.
func BenchmarkRetryBudget(b *testing.B) {
	budget := New(&config.RetryBudget{Percent: 20, MinRetries: 10})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := Now()
			budget.CountRequest(now)
			budget.Reserve(now)
		}
	})
}
