package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/h1"
)

const (
	// h1ReadBuffer is the read buffer of a fast-path backend connection;
	// response heads may grow it.
	h1ReadBuffer = 16 << 10
	// maxIdleH1 bounds idle fast-path connections per endpoint, like
	// MaxIdleConnsPerHost does for the http.Transport.
	maxIdleH1 = 1024
	// idleH1Timeout closes fast-path connections idle this long, like
	// the Transport's IdleConnTimeout.
	idleH1Timeout = 90 * time.Second
	// checkIdleAfter: a connection idle longer than this is checked for
	// a close by the backend before it is used. The Transport notices at
	// once (a goroutine reads every idle connection); backends with short
	// keep-alive timeouts would otherwise make non-replayable requests
	// fail on a connection the backend has just closed.
	checkIdleAfter = time.Second
)

// H1Conn is a plain HTTP/1.1 connection to one endpoint, for the
// runtime's fast path. Get one with AcquireH1 and give it back with
// ReleaseH1, exactly once.
type H1Conn struct {
	*h1.Conn
	Endpoint *Endpoint
	// Reused is true when the connection carried a request before: a
	// failure before any response byte may then only mean the backend
	// closed it while it was idle, and the request can be sent again on
	// a new connection.
	Reused    bool
	idleSince int64 // unix nanoseconds
}

// h1Pool holds the idle fast-path connections of one endpoint, most
// recently used last.
type h1Pool struct {
	mu     sync.Mutex
	idle   []*H1Conn
	closed bool
}

// FastH1 reports whether the fast path can talk to b: plain HTTP/1.1
// without TLS, and no circuit breakers (RoundTrip answers their 503).
func (b *Backend) FastH1() bool {
	return b.plainProto() && !b.res.breakers()
}

// plainProto reports plain HTTP/1.1 without TLS.
func (b *Backend) plainProto() bool {
	return b.Protocol == config.BackendHTTP1 && !b.TLS
}

// AcquireH1 picks an endpoint as RoundTrip does (prefer is honoured for
// session persistence) and returns an idle connection to it, or a new
// one; when connecting fails, another endpoint is tried as in RoundTrip.
// The endpoint is returned even when dialing it failed. With check, an
// idle connection is first checked for a close by the backend (one
// non-blocking peek): for requests that cannot be sent again if it turns
// out to be stale.
func (b *Backend) AcquireH1(ctx context.Context, prefer string, check bool) (*H1Conn, *Endpoint, error) {
	var tried []*Endpoint
	for {
		ep := b.pick(prefer, tried)
		if ep == nil {
			return nil, nil, fmt.Errorf("backend %s: %w", b.Name, ErrNoEndpoints)
		}
		if c := ep.h1.get(time.Now().UnixNano(), check); c != nil {
			if c.Endpoint != ep {
				c.Endpoint = ep // from a pool shared with an older Backend
			}
			ep.inflight.Add(1)
			b.active.Add(1)
			return c, ep, nil
		}
		var reuse *H1Conn
		idle := func() bool {
			reuse = ep.h1.get(time.Now().UnixNano(), check)
			return reuse != nil
		}
		c, err := b.dialH1(ctx, ep, idle)
		if errors.Is(err, errUseIdle) {
			if reuse.Endpoint != ep {
				reuse.Endpoint = ep
			}
			ep.inflight.Add(1)
			b.active.Add(1)
			return reuse, ep, nil
		}
		if err == nil || !b.retryConnect(ctx, err, ep, &tried) {
			return c, ep, err
		}
	}
}

// DialH1 opens a new connection to ep or, when connecting to ep fails,
// to another endpoint (within the connect retries): the connection's
// Endpoint is the one used. A refused connection counts towards the
// endpoint's ejection, as in RoundTrip.
func (b *Backend) DialH1(ctx context.Context, ep *Endpoint) (*H1Conn, error) {
	var tried []*Endpoint
	for {
		c, err := b.dialH1(ctx, ep, nil)
		if err == nil || !b.retryConnect(ctx, err, ep, &tried) {
			return c, err
		}
		if ep = b.pick("", tried); ep == nil {
			return nil, err
		}
	}
}

func (b *Backend) dialH1(ctx context.Context, ep *Endpoint, idle func() bool) (*H1Conn, error) {
	nc, err := b.dialTo(ctx, "tcp", ep.Address, idle)
	if err != nil {
		if dialFailed(err) {
			b.localFailure(ep)
		}
		return nil, err
	}
	ep.inflight.Add(1)
	b.active.Add(1)
	return &H1Conn{Conn: h1.NewConn(nc, h1ReadBuffer), Endpoint: ep}, nil
}

// ReleaseH1 ends a request on c: the connection goes back to the idle
// pool when reusable, and is closed otherwise.
func (b *Backend) ReleaseH1(c *H1Conn, reusable bool) {
	b.endH1(c.Endpoint)
	b.recycleH1(c, reusable)
}

// endH1 ends the in-flight count of a request.
func (b *Backend) endH1(ep *Endpoint) {
	ep.inflight.Add(-1)
	b.active.Add(-1)
}

// recycleH1 pools or closes a connection that carries no request.
func (b *Backend) recycleH1(c *H1Conn, reusable bool) {
	c.OnTimeout = nil
	if !reusable || c.Pending() > 0 || len(c.Buffered()) > 0 {
		c.Close()
		return
	}
	c.Release()
	c.Reused = true
	c.idleSince = time.Now().UnixNano()
	c.Endpoint.h1.put(c)
	if b.res.maxConns > 0 {
		b.signalFreed() // a request waiting for a connection can use it
	}
}

// Observe feeds passive health checking with the status of a response
// that did not come through RoundTrip.
func (b *Backend) Observe(ep *Endpoint, status int) { b.observe(ep, status) }

func (p *h1Pool) get(now int64, check bool) *H1Conn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := now - c.idleSince
		if !check && idle < int64(checkIdleAfter) || idle < int64(idleH1Timeout) && c.Alive() {
			return c
		}
		c.Close()
	}
}

func (p *h1Pool) put(c *H1Conn) {
	var drop []*H1Conn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	// The oldest connections are at the front: drop those past the
	// idle timeout or the count limit.
	i := 0
	for i < len(p.idle)-1 && (len(p.idle)-i > maxIdleH1 || c.idleSince-p.idle[i].idleSince >= int64(idleH1Timeout)) {
		i++
	}
	if i > 0 {
		drop = append(drop, p.idle[:i]...)
		n := copy(p.idle, p.idle[i:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
	}
	p.mu.Unlock()
	for _, d := range drop {
		d.Close()
	}
}

// closeOne closes the oldest idle connection; false if there is none.
func (p *h1Pool) closeOne() bool {
	p.mu.Lock()
	if len(p.idle) == 0 {
		p.mu.Unlock()
		return false
	}
	c := p.idle[0]
	n := copy(p.idle, p.idle[1:])
	p.idle[n] = nil
	p.idle = p.idle[:n]
	p.mu.Unlock()
	c.Close()
	return true
}

// closeIdle closes the idle connections; with retire, connections
// released later are closed instead of pooled.
func (p *h1Pool) closeIdle(retire bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if retire {
		p.closed = true
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
