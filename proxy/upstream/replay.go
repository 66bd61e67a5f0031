package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// Replays: a request that is safe to send again and fails with a reset,
// EOF or broken pipe before any response byte goes to another endpoint,
// within the backend's connect retries. A backend pod that exits right
// after SIGTERM fails requests that way: its listener may still accept,
// then resets, so the request goes elsewhere rather than to the same
// endpoint.

// Replay reasons, as metric labels.
const (
	replayReset      = "reset"
	replayEOF        = "eof"
	replayBrokenPipe = "broken_pipe"
)

var replaysTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "agentgateway_upstream_replays_total",
	Help: "Requests sent again after the backend reset or closed the connection before any response byte, by backend and reason (reset, eof, broken_pipe).",
}, []string{"backend", "reason"})

// errServerClosedIdle is the Transport's message for a reused connection
// the backend closed before any response byte.
const errServerClosedIdle = "http: server closed idle connection"

// replayReason classifies an error that ended an exchange before any
// response byte: "" when it is not a reset, EOF or broken pipe (a
// timeout, a cancel, a local close).
func replayReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNRESET):
		return replayReset
	case errors.Is(err, syscall.EPIPE):
		return replayBrokenPipe
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), err.Error() == errServerClosedIdle:
		return replayEOF
	}
	return ""
}

// IdempotentMethod reports whether RFC 9110 (section 9.2.2) makes method
// idempotent, or the request carries an idempotency key.
func IdempotentMethod(method string, h http.Header) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, k1 := h["Idempotency-Key"]
	_, k2 := h["X-Idempotency-Key"]
	return k1 || k2
}

// Replay is the state of one request's replays; the zero value is ready
// for an idempotent request.
type Replay struct {
	// NotIdempotent marks a request RFC 9110 does not let a client send
	// twice (see IdempotentMethod): it is replayed only after a pooled
	// connection failed, which the backend closed while idle without
	// reading it (as net/http retries), never after a new connection
	// failed, where the backend may have acted on it.
	NotIdempotent bool
	tried         []*Endpoint
}

// ReplayH1 decides, for a request that may be sent again (see
// IdempotentMethod; a body it has sent must be at hand to send again),
// whether it is after err ended the exchange on c before any response
// byte. c must have been released. It returns a new connection, to
// another endpoint when there is one within the connect retries, or to
// the same one when c was a pooled connection the backend may just have
// closed while idle (once); or the error to answer with. A new connection
// that failed counts a local-origin failure of its endpoint; a pooled one
// does not (a backend closing idle connections is not failing).
func (b *Backend) ReplayH1(ctx context.Context, r *Replay, c *H1Conn, err error) (*H1Conn, error) {
	reason := replayReason(err)
	if reason == "" || ctx.Err() != nil || (r.NotIdempotent && !c.Reused) {
		return nil, err
	}
	ep := c.Endpoint
	var next *Endpoint
	if b.mayRetryConnect(len(r.tried)) {
		if next = b.pick("", append(r.tried, ep)); next != nil && !c.Reused {
			b.localFailure(ep)
		}
	}
	if next == nil {
		if !c.Reused || len(r.tried) > 0 {
			return nil, err
		}
		next = ep // a single endpoint: as the Transport retries a stale connection
	}
	r.tried = append(r.tried, ep)
	replaysTotal.WithLabelValues(b.Name, reason).Inc()
	return b.DialH1(ctx, next)
}

// replayState records, for the Transport's requests, whether a response
// byte arrived and whether the connection was a pooled one.
type replayState struct {
	gotByte, reused atomic.Bool
	notIdempotent   bool
}

func replayTrace(req *http.Request) (*http.Request, *replayState) {
	st := &replayState{notIdempotent: !IdempotentMethod(req.Method, req.Header)}
	trace := &httptrace.ClientTrace{
		GotConn:              func(i httptrace.GotConnInfo) { st.reused.Store(i.Reused) },
		GotFirstResponseByte: func() { st.gotByte.Store(true) },
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace)), st
}
