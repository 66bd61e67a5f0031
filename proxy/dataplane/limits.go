package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the limits in Options.
const (
	// DefaultRequestBodyTimeout is the longest wait for the next bytes of
	// a request body.
	DefaultRequestBodyTimeout = 60 * time.Second
	// DefaultResponseHeaderTimeout is the longest wait for a backend's
	// response head on routes without timeouts.request or
	// timeouts.backendRequest.
	DefaultResponseHeaderTimeout = 60 * time.Second
	// maxConnectionsCap bounds the default connection cap.
	maxConnectionsCap = 100000
	// fdHeadroom is the descriptors left for backends' health checks,
	// config streams, the admin server and the like.
	fdHeadroom = 256
)

func (o *Options) completeLimits() {
	if o.RequestBodyTimeout == 0 {
		o.RequestBodyTimeout = DefaultRequestBodyTimeout
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections()
	}
}

// DefaultMaxConnections is the default cap on open client connections:
// half of the open-file limit (a proxied connection mostly holds a
// backend connection too) after some headroom, at most 100000.
func DefaultMaxConnections() int {
	files, ok := openFileLimit()
	if !ok || files > 1<<40 {
		return maxConnectionsCap // unlimited, or not known
	}
	n := (int64(files) - fdHeadroom) / 2
	return int(min(max(n, 64), maxConnectionsCap))
}

// connLimiter caps the client connections open on all binds together.
type connLimiter struct {
	max      int64
	open     atomic.Int64
	opened   prometheus.Counter
	rejected prometheus.Counter
}

func newConnLimiter(maxConns int, reg prometheus.Registerer) *connLimiter {
	l := &connLimiter{
		max: int64(maxConns),
		opened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentgateway_downstream_connections_opened_total",
			Help: "Client connections accepted on TCP binds (those closed at once for --max-connections excluded).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentgateway_downstream_connections_rejected_total",
			Help: "Client connections closed at once because --max-connections were open.",
		}),
	}
	if reg != nil {
		reg.MustRegister(l.opened, l.rejected, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "agentgateway_downstream_connections_active",
			Help: "Client connections open on TCP binds.",
		}, func() float64 { return float64(l.open.Load()) }))
	}
	return l
}

func (l *connLimiter) acquire() bool {
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		return false
	}
	l.opened.Inc()
	return true
}

// limitListener closes connections beyond the cap as soon as they are
// accepted (the client sees its connection closed, the ones open are not
// affected) and counts the others until they close.
type limitListener struct {
	net.Listener
	lim       *connLimiter
	keepalive *net.KeepAliveConfig
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil
		}
		if !l.lim.acquire() {
			l.lim.rejected.Inc()
			tc.SetLinger(0) //nolint:errcheck // only spares the socket TIME_WAIT; it is closed either way
			tc.Close()      //nolint:errcheck // refused: nothing was read or written
			continue
		}
		if l.keepalive != nil {
			if err := tc.SetKeepAliveConfig(*l.keepalive); err != nil {
				l.lim.open.Add(-1)
				tc.Close() //nolint:errcheck // refused: nothing was read or written
				continue
			}
		}
		if hook := acceptedConn.Load(); hook != nil {
			(*hook)(tc)
		}
		return &limitedConn{TCPConn: tc, lim: l.lim}, nil
	}
}

// limitedConn gives its place back on the first Close. Embedding the
// *net.TCPConn keeps SyscallConn, CloseWrite, ReadFrom and WriteTo.
type limitedConn struct {
	*net.TCPConn
	lim    *connLimiter
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.lim.open.Add(-1)
	}
	return c.TCPConn.Close()
}

// forceClose closes a client connection for good, also when a duplicate
// of its descriptor is open (h1.Conn.Watch): the socket is shut down
// first, which the peer sees at once and which wakes every reader.
func forceClose(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { shutdownSocket(fd) }) //nolint:errcheck // Close below is the fallback
		}
	}
	c.Close() //nolint:errcheck // forced close: nothing more to do with its error
}

// errRequestBodyTimeout is the error of a request body read that waited
// longer than RequestBodyTimeout for bytes.
var errRequestBodyTimeout = errors.New("timed out waiting for the request body")

// timedBody is a request body on the general path whose every read must
// see bytes within timeout.
type timedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
	expired atomic.Bool // a read timed out
}

func (b *timedBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	if b.rc.SetReadDeadline(time.Now().Add(b.timeout)) != nil {
		// The connection cannot take deadlines; read without one.
		b.done = true
		return b.ReadCloser.Read(p)
	}
	n, err := b.ReadCloser.Read(p)
	var ne net.Error
	switch {
	case err == nil:
	case errors.As(err, &ne) && ne.Timeout():
		// The deadline stays: what net/http still reads of the body
		// (it drains a small rest to keep the connection) fails at once.
		b.done = true
		b.expired.Store(true)
		err = fmt.Errorf("%w (%s): %w", errRequestBodyTimeout, b.timeout, err)
	default:
		b.done = true
		// No deadline once the body is read: net/http's background read
		// would take its expiry for a client gone.
		b.rc.SetReadDeadline(time.Time{}) //nolint:errcheck // set above, so it can be cleared
	}
	return n, err
}

// withBodyTimeout puts RequestBodyTimeout on the reads of r's body; the
// returned body, nil without one, is for withTimedBody.
func (s *server) withBodyTimeout(w http.ResponseWriter, r *http.Request) *timedBody {
	if r.Body == nil || r.Body == http.NoBody || s.rt.opts.RequestBodyTimeout < 0 {
		return nil
	}
	tb := &timedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), timeout: s.rt.opts.RequestBodyTimeout}
	r.Body = tb
	return tb
}

type timedBodyKey struct{}

// withTimedBody lets bodyTimedOut find the request's timedBody.
func withTimedBody(ctx context.Context, tb *timedBody) context.Context {
	if tb == nil {
		return ctx
	}
	return context.WithValue(ctx, timedBodyKey{}, tb)
}

// bodyTimedOut is the ErrorHandler's test for an exchange that failed
// because the client stalled its body: the error may be the body's or one
// of the backend client's about the body it could not finish.
func bodyTimedOut(r *http.Request, err error) bool {
	if errors.Is(err, errRequestBodyTimeout) {
		return true
	}
	tb, ok := r.Context().Value(timedBodyKey{}).(*timedBody)
	return ok && tb.expired.Load()
}

// errResponseHeaderTimeout cancels a backend exchange without a response
// head after ResponseHeaderTimeout; it is a context.DeadlineExceeded, which
// the ErrorHandler answers with 504.
type errResponseHeaderTimeout time.Duration

func (e errResponseHeaderTimeout) Error() string {
	return fmt.Sprintf("no response head from the backend within %s", time.Duration(e))
}

func (e errResponseHeaderTimeout) Unwrap() error { return context.DeadlineExceeded }

// headerDeadline bounds the wait for the response head of a request whose
// rule sets no timeout: the returned context is cancelled (with
// errResponseHeaderTimeout as its cause) unless gotResponseHead is called
// on it within d. stop must be called when the exchange ends.
func headerDeadline(ctx context.Context, d time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(d, func() { cancel(errResponseHeaderTimeout(d)) })
	return context.WithValue(ctx, headerTimerKey{}, timer), func() {
		timer.Stop()
		cancel(nil)
	}
}

type headerTimerKey struct{}

// gotResponseHead ends the wait headerDeadline bounds; the ReverseProxy
// calls it (ModifyResponse) with the backend's response head.
func gotResponseHead(ctx context.Context) {
	if t, ok := ctx.Value(headerTimerKey{}).(*time.Timer); ok {
		t.Stop()
	}
}

// timedOut is the ErrorHandler's test for a request ended by
// headerDeadline.
func timedOut(ctx context.Context) bool {
	var e errResponseHeaderTimeout
	return errors.As(context.Cause(ctx), &e)
}

// drainUpgrades waits, within ctx, for the connections that switched
// protocols (WebSocket and the like) to end; it returns ctx's error when
// some are left, which the caller ends by cancelling their context.
func (s *server) drainUpgrades(ctx context.Context) error {
	wait := time.Millisecond
	for s.upgrades.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
	return nil
}
