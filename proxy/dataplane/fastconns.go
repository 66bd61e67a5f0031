package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Cleartext HTTP binds accept connections themselves and serve them on
// the fast path (fastpath.go). A connection whose request the fast path
// does not handle is handed, with the bytes already read, to the bind's
// http.Server through handoffListener, and net/http serves it from then
// on.

// fastConnState is where a fast-path connection is, for shutdown.
const (
	connActive int32 = iota // reading or serving a request
	connIdle                // waiting for the next request
	connClosed              // closed by shutdown
)

// acceptFast accepts connections until the listener is closed.
func (s *server) acceptFast() error {
	var delay time.Duration
	ln := s.clients()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Like net/http: back off on errors such as EMFILE.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.rt.log.Debug("accept failed; retrying", "bind", s.name, "error", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if s.fast.tls != nil {
			nc = tls.Server(nc, s.fast.tls)
		}
		fc := newFastConn(s, nc)
		if !s.fast.track(fc) {
			nc.Close()
			continue
		}
		go fc.serve()
	}
}

// fastConns tracks the open fast-path connections of a bind.
type fastConns struct {
	mu       sync.Mutex
	conns    map[*fastConn]struct{}
	draining atomic.Bool
	handoff  *handoffListener
	handed   atomic.Int64 // connections handed to net/http, for tests
	tls      *tls.Config  // on HTTPS binds
}

func (fs *fastConns) track(fc *fastConn) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.draining.Load() {
		return false
	}
	if fs.conns == nil {
		fs.conns = map[*fastConn]struct{}{}
	}
	fs.conns[fc] = struct{}{}
	return true
}

func (fs *fastConns) untrack(fc *fastConn) {
	fs.mu.Lock()
	delete(fs.conns, fc)
	fs.mu.Unlock()
}

// shutdown closes idle connections, lets active ones finish their
// request (their responses say "Connection: close") and, when ctx ends,
// closes the rest. Like http.Server.Shutdown, it polls.
func (fs *fastConns) shutdown(ctx context.Context) error {
	fs.mu.Lock()
	fs.draining.Store(true)
	fs.mu.Unlock()
	wait := time.Millisecond
	for {
		fs.mu.Lock()
		for fc := range fs.conns {
			if fc.state.CompareAndSwap(connIdle, connClosed) {
				fc.nc.Close()
			}
		}
		n := len(fs.conns)
		fs.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			fs.closeAll()
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (fs *fastConns) closeAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for fc := range fs.conns {
		fc.state.Store(connClosed)
		// Also ends the wait of a request on a backend, which watches
		// the client on a duplicate of its descriptor.
		if tc, ok := fc.nc.(*tls.Conn); ok {
			forceClose(tc.NetConn())
		}
		forceClose(fc.nc)
	}
}

// handoffListener feeds connections the fast path gave up on to the
// bind's http.Server.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// deliver passes c to the http.Server; false when it is shut down.
func (l *handoffListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn returns the bytes the fast path already read before reading
// the connection again.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps net/http's graceful close (FIN, then wait) working.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handOver gives the connection to net/http, replaying what was read.
func (fc *fastConn) handOver() bool {
	if err := fc.c.Flush(); err != nil {
		return false
	}
	rest := fc.c.Detach()
	// net/http sets its own deadlines; clear ours.
	fc.nc.SetReadDeadline(time.Time{})
	fc.s.fast.untrack(fc)
	fc.s.fast.handed.Add(1)
	if tc, ok := fc.nc.(*tls.Conn); ok {
		if fc.tlsState == nil {
			// Before the fast path read anything (h2).
			return fc.s.fast.handoff.deliver(tc)
		}
		return fc.s.fast.handoff.deliver(&handedTLSConn{replayConn: replayConn{Conn: tc, buf: rest}, state: fc.tlsState})
	}
	return fc.s.fast.handoff.deliver(newFramingConn(&replayConn{Conn: fc.nc, buf: rest}, fc.s.fe.maxHeaderBytes))
}
