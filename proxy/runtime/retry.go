package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// retryBodyLimit is the largest request body buffered so it can be
// replayed on a retry.
const retryBodyLimit = 64 << 10

const defaultBackoff = 25 * time.Millisecond

// retrier wraps a backend with per-attempt timeouts and retries on
// connection errors and configured status codes.
type retrier struct {
	backend        *upstream.Backend
	attempts       int // total tries, >= 1
	codes          map[int]bool
	backoff        time.Duration
	attemptTimeout time.Duration
}

func newRetrier(b *upstream.Backend, rp *config.Retry, attemptTimeout time.Duration) *retrier {
	r := &retrier{backend: b, attempts: 1, attemptTimeout: attemptTimeout, backoff: defaultBackoff}
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
		if try > 1 {
			rt.backend.EndRetry()
		}
		last := try >= attempts || req.Context().Err() != nil
		if !last && rt.shouldRetry(resp, err) && rt.backend.StartRetry() {
			if resp != nil {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
				resp.Body.Close()
			}
			cancel()
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-req.Context().Done():
				t.Stop()
				rt.backend.EndRetry()
				return nil, req.Context().Err()
			}
			backoff *= 2
			continue
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
