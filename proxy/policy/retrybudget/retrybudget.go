// Package retrybudget is the retry budget (config.RetryBudget) of a rule or
// a backend: retries may start while they stay within a percentage of the
// requests (or a minimum rate), counted over sliding windows without locks.
// The data plane's retrier asks it before each retry; budgets are kept
// across reloads (Set).
package retrybudget

import (
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// budgetSlots is the number of slots of a budget window: counts over the
// last interval are exact to one slot (a tenth of the interval).
const budgetSlots = 10

// window counts events over a sliding window of budgetSlots slots. Each
// slot packs the index of the slot period it counts (high 32 bits) with
// its count (low 32 bits), so a stale slot is recycled with one
// compare-and-swap: no lock, no allocation, no goroutine.
type window struct {
	width int64 // nanoseconds per slot
	slots [budgetSlots]atomic.Uint64
}

func newWindow(d time.Duration) window {
	return window{width: max(int64(d)/budgetSlots, 1)}
}

func (w *window) add(now int64) {
	e := uint32(now / w.width)
	s := &w.slots[e%budgetSlots]
	for {
		old := s.Load()
		if old>>32 == uint64(e) {
			// The common case, a plain add. Only a goroutine a whole
			// interval ahead could recycle the slot in between; the
			// event would then count in that period, never get lost.
			s.Add(1)
			return
		}
		if s.CompareAndSwap(old, uint64(e)<<32|1) {
			return
		}
	}
}

// remove takes back an add made at the same now, unless its slot has been
// recycled since (then the count it was part of is gone anyway).
func (w *window) remove(now int64) {
	e := uint32(now / w.width)
	s := &w.slots[e%budgetSlots]
	for {
		old := s.Load()
		if old>>32 != uint64(e) || uint32(old) == 0 {
			return
		}
		if s.CompareAndSwap(old, old-1) {
			return
		}
	}
}

// sum counts the events of the slots of the last budgetSlots periods,
// the current one included.
func (w *window) sum(now int64) int64 {
	e := uint32(now / w.width)
	var n int64
	for i := range w.slots {
		v := w.slots[i].Load()
		if e-uint32(v>>32) < budgetSlots {
			n += int64(uint32(v))
		}
	}
	return n
}

// Budget is a compiled config.RetryBudget: a retry may start while
// the retries started in the last interval stay within percent of the
// requests started in it, or while the retries started in the last
// minimum-rate interval stay within minRetries. Every retry counts in both
// windows, so the minimum is a floor, not an addition.
type Budget struct {
	percent    int64
	minRetries int64
	requests   window
	retries    window
	recent     window // retries, over the minimum-rate interval
}

// New compiles c.
func New(c *config.RetryBudget) *Budget {
	interval, minInterval := 10*time.Second, time.Second
	if c.Interval != nil {
		interval = c.Interval.Duration
	}
	if c.MinRetryInterval != nil {
		minInterval = c.MinRetryInterval.Duration
	}
	return &Budget{
		percent: int64(c.Percent), minRetries: int64(c.MinRetries),
		requests: newWindow(interval), retries: newWindow(interval), recent: newWindow(minInterval),
	}
}

// CountRequest counts a request (its first attempt) at now (Now).
func (b *Budget) CountRequest(now int64) { b.requests.add(now) }

// Reserve counts a retry if the budget allows it. The retry is counted
// before the check, so concurrent reservations see each other and the
// budget is never exceeded; a refused one is taken back.
func (b *Budget) Reserve(now int64) bool {
	b.retries.add(now)
	b.recent.add(now)
	if b.recent.sum(now) <= b.minRetries || b.retries.sum(now)*100 <= b.requests.sum(now)*b.percent {
		return true
	}
	b.Unreserve(now)
	return false
}

// Unreserve takes back a reservation made at the same now.
func (b *Budget) Unreserve(now int64) {
	b.retries.remove(now)
	b.recent.remove(now)
}

// clockStart anchors Now; time.Since reads the monotonic clock.
var clockStart = time.Now()

// Now is the budgets' clock: monotonic nanoseconds.
func Now() int64 { return int64(time.Since(clockStart)) }

// Set keeps budgets across reloads, keyed by scope and config, so a
// reload (an endpoint change, say) does not forget the counts
// (policy.Kept: Stage, Get, Commit).
type Set struct{ *policy.Kept[*Budget] }

// NewSet returns an empty set.
func NewSet() *Set { return &Set{policy.NewKept[*Budget]()} }

// Stage returns a copy of s for building a config.
func (s *Set) Stage() *Set { return &Set{s.Kept.Stage()} }

// Get returns the budget of c in scope, the serving one when there is one
// (its counts kept).
func (s *Set) Get(scope string, c *config.RetryBudget) *Budget {
	spec, _ := json.Marshal(c)                                                                    //nolint:errcheck // plain data: cannot fail
	b, _ := s.Kept.Get(scope+"\x00"+string(spec), func() (*Budget, error) { return New(c), nil }) //nolint:errcheck // the build cannot fail
	return b
}
