// Package bodylimit is the body limits policy (config.BodyLimits): a
// request body over its limit is answered 413 before the backend is
// contacted or cut off while it streams, a response body over its limit
// 502 or cut off; the connection is closed either way.
package bodylimit

import (
	"errors"
	"io"
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// Rules with a traffic policy are served by net/http only (the data
// plane's fast path does not take them), so these hooks are the only place
// the limits are enforced.

var (
	errRequestTooLarge  = errors.New("request body larger than the route's limit")
	errResponseTooLarge = errors.New("response body larger than the route's limit")
)

// Limits are the compiled limits; 0 means no limit.
type Limits struct {
	request, response int64
}

// New compiles c; nil for none.
func New(c *config.BodyLimits) *Limits {
	if c == nil {
		return nil
	}
	return &Limits{request: c.Request, response: c.Response}
}

// Phase is limits: before anything reads the body.
func (*Limits) Phase() policy.Phase { return policy.PhaseLimits }

// Request applies the request limit (limitRequest).
func (l *Limits) Request(w http.ResponseWriter, r *http.Request, _ *cel.Activation) bool {
	return l.limitRequest(w, r)
}

// Response applies the response limit (limitResponse).
func (l *Limits) Response(resp *http.Response, _ *cel.Activation) error {
	return l.limitResponse(resp)
}

// limitRequest answers 413 (and closes the connection) for a request body
// whose declared length is over the limit, before the backend is
// contacted, and bounds a body of unknown length: reading past the limit
// fails the backend request, which HandleError turns into 413. It reports
// false after answering.
func (l *Limits) limitRequest(w http.ResponseWriter, r *http.Request) bool {
	if l == nil || l.request == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > l.request {
		requestTooLarge(w, r)
		return false
	}
	if r.ContentLength < 0 {
		r.Body = &limitedBody{ReadCloser: r.Body, left: l.request, err: errRequestTooLarge}
	}
	return true
}

// limitResponse refuses (errResponseTooLarge, which HandleError turns
// into 502) a response whose declared length is over the limit, and
// bounds a body of unknown length: reading past the limit fails the copy
// to the client, which aborts the response and closes the connection.
func (l *Limits) limitResponse(resp *http.Response) error {
	if l == nil || l.response == 0 || resp.StatusCode == http.StatusSwitchingProtocols || resp.Request.Method == http.MethodHead {
		return nil
	}
	if resp.ContentLength > l.response {
		return errResponseTooLarge
	}
	if resp.ContentLength < 0 {
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.response, err: errResponseTooLarge}
	}
	return nil
}

// HandleError answers a backend exchange that failed because a body
// was over its limit: 413 for the request's, 502 for the response's, and
// the connection is closed either way (the rest of the body is not
// read). It reports false for any other failure.
func HandleError(w http.ResponseWriter, r *http.Request, err error) bool {
	if errors.Is(err, errRequestTooLarge) {
		requestTooLarge(w, r)
		return true
	}
	if errors.Is(err, errResponseTooLarge) {
		w.Header().Set("Connection", "close")
		policy.Error(w, r, http.StatusBadGateway, "response body too large")
		return true
	}
	return false
}

func requestTooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	policy.Error(w, r, http.StatusRequestEntityTooLarge, "request body too large")
}

// limitedBody fails with err once more than left bytes are read.
type limitedBody struct {
	io.ReadCloser
	left int64
	err  error
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		// Past the limit: pass on what fits, then fail.
		n = int(b.left)
		b.left, b.over = 0, true
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}
