package dataplane

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy/retrybudget"
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
	budgets []*retrybudget.Budget
	// retries and budgetSpent count retries made and refused for want of
	// budget (metrics.go); nil counts nothing.
	retries, budgetSpent prometheus.Counter
}

func newRetrier(b *upstream.Backend, rp *config.Retry, attemptTimeout time.Duration, budgets []*retrybudget.Budget) *retrier {
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
		now := retrybudget.Now()
		for _, b := range rt.budgets {
			b.CountRequest(now)
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
			rt.count(granted)
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
				if ex := exchangeFrom(req.Context()); ex != nil {
					ex.log.retries++
				}
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
	now := retrybudget.Now()
	for i, b := range rt.budgets {
		if !b.Reserve(now) {
			for _, r := range rt.budgets[:i] {
				r.Unreserve(now)
			}
			return false, true
		}
	}
	return true, false
}

// count counts a retry made (granted) or refused for want of budget.
func (rt *retrier) count(granted bool) {
	switch {
	case granted && rt.retries != nil:
		rt.retries.Inc()
	case !granted && rt.budgetSpent != nil:
		rt.budgetSpent.Inc()
	}
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
