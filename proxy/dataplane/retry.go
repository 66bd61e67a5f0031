package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// retryBodyLimit is the largest request body buffered so it can be
// replayed on a retry.
const retryBodyLimit = 64 << 10

const defaultBackoff = 25 * time.Millisecond

// errRetryBudget is returned when a configured retry budget refuses a
// retry; the client gets 503, as GEP-3388 requires.
var errRetryBudget = errors.New("retry budget exhausted")

// retrier wraps a backend with per-attempt timeouts and retries on
// connection errors and configured status codes, within the retry budgets.
type retrier struct {
	backend        *upstream.Backend
	attempts       int // total tries, >= 1
	codes          map[int]bool
	backoff        time.Duration
	attemptTimeout time.Duration
	// budgets are the configured budgets (the rule's, the backend's); a
	// retry needs every one. Without any, the backend's built-in
	// concurrency budget (upstream.Backend.StartRetry) applies.
	budgets []*retryBudget
}

func newRetrier(b *upstream.Backend, rp *config.Retry, attemptTimeout time.Duration, budgets []*retryBudget) *retrier {
	r := &retrier{backend: b, attempts: 1, attemptTimeout: attemptTimeout, backoff: defaultBackoff, budgets: budgets}
	if rp != nil {
		r.attempts = 1 + rp.Attempts
		r.codes = map[int]bool{}
		for _, c := range rp.Codes {
			r.codes[c] = true
		}
		if rp.Backoff != nil {
			r.backoff = rp.Backoff.Duration
		}
	}
	return r
}

func (rt *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(rt.budgets) > 0 {
		now := monoNow()
		for _, b := range rt.budgets {
			b.request(now)
		}
	}
	attempts := rt.attempts
	var body []byte
	if attempts > 1 && req.Body != nil && req.Body != http.NoBody {
		// Buffer a small body so it can be sent again; a large or
		// streaming one disables retries for this request.
		buf, err := io.ReadAll(io.LimitReader(req.Body, retryBodyLimit+1))
		if err != nil {
			req.Body.Close()
			return nil, err
		}
		if len(buf) > retryBodyLimit {
			req.Body = readCloser{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
			attempts = 1
		} else {
			req.Body.Close()
			body = buf
		}
	}
	backoff := rt.backoff
	for try := 1; ; try++ {
		out := req
		if body != nil {
			out = req.Clone(req.Context())
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		var cancel context.CancelFunc = func() {}
		if rt.attemptTimeout > 0 {
			var ctx context.Context
			ctx, cancel = context.WithTimeout(req.Context(), rt.attemptTimeout)
			if out == req {
				out = req.WithContext(ctx)
			} else {
				out = out.WithContext(ctx)
			}
		}
		resp, err := rt.backend.RoundTrip(out)
		if try > 1 && len(rt.budgets) == 0 {
			rt.backend.EndRetry()
		}
		last := try >= attempts || req.Context().Err() != nil
		if !last && rt.shouldRetry(resp, err) {
			granted, refused := rt.startRetry()
			if refused {
				discard(resp)
				cancel()
				return nil, errRetryBudget
			}
			if granted {
				discard(resp)
				cancel()
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-req.Context().Done():
					t.Stop()
					if len(rt.budgets) == 0 {
						rt.backend.EndRetry()
					}
					return nil, req.Context().Err()
				}
				backoff *= 2
				continue
			}
		}
		if err != nil {
			cancel()
			return nil, err
		}
		// The attempt context must live until the body is read.
		resp.Body = cancelBody{resp.Body, cancel}
		return resp, nil
	}
}

// discard drains a little of a failed answer, so its connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	if resp != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) //nolint:errcheck // draining only lets the connection be reused
		resp.Body.Close()
	}
}

// startRetry reserves a retry. granted: go ahead. refused: a configured
// budget said no, and the client must get 503. Neither: the built-in
// budget said no, and the failed answer is returned as it is.
func (rt *retrier) startRetry() (granted, refused bool) {
	if len(rt.budgets) == 0 {
		return rt.backend.StartRetry(), false
	}
	now := monoNow()
	for i, b := range rt.budgets {
		if !b.reserve(now) {
			for _, r := range rt.budgets[:i] {
				r.unreserve(now)
			}
			return false, true
		}
	}
	return true, false
}

func (rt *retrier) shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		// Connection-level failures are retried; a request timeout is
		// final (the context is done).
		return !errors.Is(err, context.Canceled)
	}
	return rt.codes[resp.StatusCode]
}

type readCloser struct {
	io.Reader
	io.Closer
}

// cancelBody releases the attempt context when the body is closed. Write
// is forwarded for protocol upgrades.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelBody) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (c cancelBody) Write(p []byte) (int, error) {
	if w, ok := c.ReadCloser.(io.Writer); ok {
		return w.Write(p)
	}
	return 0, errors.New("response body is not writable")
}

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

// retryBudget is a compiled config.RetryBudget: a retry may start while
// the retries started in the last interval stay within percent of the
// requests started in it, or while the retries started in the last
// minimum-rate interval stay within minRetries. Every retry counts in both
// windows, so the minimum is a floor, not an addition.
type retryBudget struct {
	percent    int64
	minRetries int64
	requests   window
	retries    window
	recent     window // retries, over the minimum-rate interval
}

func newRetryBudget(c *config.RetryBudget) *retryBudget {
	interval, minInterval := 10*time.Second, time.Second
	if c.Interval != nil {
		interval = c.Interval.Duration
	}
	if c.MinRetryInterval != nil {
		minInterval = c.MinRetryInterval.Duration
	}
	return &retryBudget{
		percent: int64(c.Percent), minRetries: int64(c.MinRetries),
		requests: newWindow(interval), retries: newWindow(interval), recent: newWindow(minInterval),
	}
}

// request counts a request (its first attempt).
func (b *retryBudget) request(now int64) { b.requests.add(now) }

// reserve counts a retry if the budget allows it. The retry is counted
// before the check, so concurrent reservations see each other and the
// budget is never exceeded; a refused one is taken back.
func (b *retryBudget) reserve(now int64) bool {
	b.retries.add(now)
	b.recent.add(now)
	if b.recent.sum(now) <= b.minRetries || b.retries.sum(now)*100 <= b.requests.sum(now)*b.percent {
		return true
	}
	b.unreserve(now)
	return false
}

// unreserve takes back a reservation made at the same now.
func (b *retryBudget) unreserve(now int64) {
	b.retries.remove(now)
	b.recent.remove(now)
}

// clockStart anchors monoNow; time.Since reads the monotonic clock.
var clockStart = time.Now()

func monoNow() int64 { return int64(time.Since(clockStart)) }

// budgetSet keeps budgets across reloads, keyed by scope and config, so a
// reload (an endpoint change, say) does not forget the counts.
type budgetSet struct {
	mu   sync.Mutex
	all  map[string]*retryBudget
	used map[string]bool // by the config being built
}

func newBudgetSet() *budgetSet {
	return &budgetSet{all: map[string]*retryBudget{}}
}

// begin starts building a config; get marks budgets as used; commit drops
// the unused ones.
func (s *budgetSet) begin() {
	s.mu.Lock()
	s.used = map[string]bool{}
	s.mu.Unlock()
}

func (s *budgetSet) get(scope string, c *config.RetryBudget) *retryBudget {
	spec, _ := json.Marshal(c) //nolint:errcheck // plain data: cannot fail; plain data: cannot fail
	k := scope + "\x00" + string(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used[k] = true
	b := s.all[k]
	if b == nil {
		b = newRetryBudget(c)
		s.all[k] = b
	}
	return b
}

func (s *budgetSet) commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.all {
		if !s.used[k] {
			delete(s.all, k)
		}
	}
}
