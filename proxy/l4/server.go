package l4

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied when a Config duration is zero.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout matches Envoy's tcp_proxy default: long enough for
	// quiet database connections, short enough that abandoned ones go away.
	DefaultIdleTimeout = time.Hour
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("l4: server closed")

// Config is what one L4 listener does with its connections. Update replaces
// it whole; exactly one of three modes applies:
//
//   - plain TCP (Passthrough false, TLS nil): every connection goes to the
//     route without hostnames;
//   - TLS passthrough (Passthrough true): the route is chosen by the SNI of
//     the client's ClientHello, and the TLS bytes are forwarded untouched;
//   - TLS terminate (TLS set): the proxy completes the handshake with TLS,
//     chooses the route by the negotiated SNI and forwards the plaintext.
type Config struct {
	Routes      []Route
	Passthrough bool
	TLS         *tls.Config

	// DialTimeout bounds connecting to a backend.
	DialTimeout time.Duration
	// HandshakeTimeout bounds reading the ClientHello (passthrough) or the
	// whole TLS handshake (terminate), so silent clients cannot pin
	// goroutines.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection after this long with no bytes in
	// either direction. Zero means DefaultIdleTimeout; negative disables it.
	IdleTimeout time.Duration
	// OnClose, when set, receives every connection's report as it ends
	// (access logs). It runs on the connection's goroutine.
	OnClose func(*Session)
}

// state is a validated Config, swapped atomically by Update.
type state struct {
	router      *SNIRouter
	passthrough bool
	tls         *tls.Config
	dial        time.Duration
	handshake   time.Duration
	idle        time.Duration
	onClose     func(*Session)
}

func compile(cfg Config) (*state, error) {
	if cfg.Passthrough && cfg.TLS != nil {
		return nil, errors.New("a listener either passes TLS through or terminates it: set Passthrough or TLS, not both")
	}
	if !cfg.Passthrough {
		for _, rt := range cfg.Routes {
			if rt.Terminate != nil {
				return nil, fmt.Errorf("route %s: Terminate is only valid on a passthrough listener (use Config.TLS to terminate every connection)", rt.Name)
			}
		}
	}
	r, err := NewSNIRouter(cfg.Routes)
	if err != nil {
		return nil, err
	}
	st := &state{
		router:      r,
		passthrough: cfg.Passthrough,
		tls:         cfg.TLS,
		dial:        orDefault(cfg.DialTimeout, DefaultDialTimeout),
		handshake:   orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout),
		idle:        orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		onClose:     cfg.OnClose,
	}
	if st.idle < 0 {
		st.idle = 0
	}
	return st, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Stats are cumulative counters of a Server, for the runtime to export as
// metrics.
type Stats struct {
	Accepted        uint64
	Active          int64
	NoRoute         uint64 // closed because no route matched (or no SNI in passthrough)
	HandshakeErrors uint64 // bad or timed-out ClientHello / TLS handshake
	DialErrors      uint64
	BytesFromClient uint64
	BytesToClient   uint64
}

type counters struct {
	accepted, noRoute, handshakeErrors, dialErrors atomic.Uint64
	bytesFromClient, bytesToClient                 atomic.Uint64
	active                                         atomic.Int64
}

// Server forwards the connections of one or more listeners according to a
// Config that Update can replace while it serves.
type Server struct {
	state atomic.Pointer[state]
	log   *slog.Logger
	c     counters

	// ctx is cancelled by Close so pending dials stop at once.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
	wg        sync.WaitGroup // one per connection handler
}

// NewServer validates cfg and returns a Server ready to Serve. log may be nil.
func NewServer(cfg Config, log *slog.Logger) (*Server, error) {
	st, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*trackedConn]struct{}{},
	}
	s.state.Store(st)
	return s, nil
}

// Update validates cfg and makes it apply to connections accepted from now
// on, without touching listeners. Established connections keep the backend
// they have: cutting them would turn every route change into an outage for
// long-lived protocols. On error nothing changes.
func (s *Server) Update(cfg Config) error {
	st, err := compile(cfg)
	if err != nil {
		return err
	}
	s.state.Store(st)
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted:        s.c.accepted.Load(),
		Active:          s.c.active.Load(),
		NoRoute:         s.c.noRoute.Load(),
		HandshakeErrors: s.c.handshakeErrors.Load(),
		DialErrors:      s.c.dialErrors.Load(),
		BytesFromClient: s.c.bytesFromClient.Load(),
		BytesToClient:   s.c.bytesToClient.Load(),
	}
}

// Serve accepts connections on ln until Shutdown or Close, which close ln.
// It may be called for several listeners at once. It returns
// ErrServerClosed after Shutdown or Close, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, instead of giving up the listener.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("l4: accept failed, retrying", "error", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.ctx.Done():
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		backoff = 0
		tc := &trackedConn{client: conn}
		if !s.track(tc) {
			conn.Close()
			return ErrServerClosed
		}
		go s.handle(tc)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers a connection; it fails once shutdown has begun, which
// keeps wg.Add from racing with the wg.Wait in Shutdown.
func (s *Server) track(tc *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[tc] = struct{}{}
	s.wg.Add(1)
	s.c.accepted.Add(1)
	s.c.active.Add(1)
	return true
}

func (s *Server) untrack(tc *trackedConn) {
	s.mu.Lock()
	delete(s.conns, tc)
	s.mu.Unlock()
	s.c.active.Add(-1)
	s.wg.Done()
}

// trackedConn lets Close abort a connection in any phase: handshake, dial
// or splice.
type trackedConn struct {
	mu      sync.Mutex
	client  net.Conn
	backend net.Conn
	aborted bool
}

func (t *trackedConn) setBackend(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted {
		return false
	}
	t.backend = c
	return true
}

func (t *trackedConn) abort() {
	t.mu.Lock()
	t.aborted = true
	client, backend := t.client, t.backend
	t.mu.Unlock()
	client.Close()
	if backend != nil {
		backend.Close()
	}
}

func (s *Server) handle(tc *trackedConn) {
	defer s.untrack(tc)
	conn := tc.client
	defer conn.Close()
	st := s.state.Load()
	ses := &Session{Start: time.Now(), Client: conn.RemoteAddr().String(), Reason: ReasonClosed}
	if st.onClose != nil {
		defer func() {
			ses.Duration = time.Since(ses.Start)
			st.onClose(ses)
		}()
	}
	log := s.log.With("client", ses.Client)

	var (
		client = conn
		sni    string
		hello  []byte
	)
	switch {
	case st.tls != nil:
		conn.SetDeadline(time.Now().Add(st.handshake))
		tlsConn := tls.Server(conn, st.tls)
		if err := tlsConn.HandshakeContext(s.ctx); err != nil {
			s.c.handshakeErrors.Add(1)
			ses.Reason = ReasonHandshake
			log.Debug("l4: tls handshake failed", "error", err)
			return
		}
		conn.SetDeadline(time.Time{})
		sni = tlsConn.ConnectionState().ServerName
		client = tlsConn
	case st.passthrough:
		conn.SetReadDeadline(time.Now().Add(st.handshake))
		var err error
		hello, sni, err = readClientHello(conn)
		if err != nil {
			s.c.handshakeErrors.Add(1)
			ses.Reason = ReasonHandshake
			log.Debug("l4: reading client hello failed", "error", err)
			return
		}
		conn.SetReadDeadline(time.Time{})
	}
	ses.SNI = sni

	rt := st.router.match(sni)
	if rt == nil {
		s.c.noRoute.Add(1)
		ses.Reason = ReasonNoRoute
		log.Debug("l4: no route", "sni", sni)
		return
	}
	ses.Route, ses.Listener = rt.name, rt.listener
	if rt.terminate != nil {
		// The ClientHello was consumed for routing; replay it into the
		// handshake instead of to the backend.
		conn.SetDeadline(time.Now().Add(st.handshake))
		tlsConn := tls.Server(&replayConn{Conn: conn, pending: hello}, rt.terminate)
		if err := tlsConn.HandshakeContext(s.ctx); err != nil {
			s.c.handshakeErrors.Add(1)
			ses.Reason = ReasonHandshake
			log.Debug("l4: tls handshake failed", "route", rt.name, "error", err)
			return
		}
		conn.SetDeadline(time.Time{})
		client, hello = tlsConn, nil
	}
	addr, originate, err := rt.picker.pickTarget()
	if err != nil {
		s.c.noRoute.Add(1)
		ses.Reason = ReasonNoBackend
		log.Debug("l4: route has no backend", "route", rt.name)
		return
	}
	ses.Upstream = addr
	log = log.With("route", rt.name, "backend", addr)

	dctx, cancel := context.WithTimeout(s.ctx, st.dial)
	backend, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		s.c.dialErrors.Add(1)
		ses.Reason = ReasonConnect
		log.Debug("l4: dial failed", "error", err)
		return
	}
	defer backend.Close()
	if !tc.setBackend(backend) {
		ses.Reason = ReasonShutdown
		return
	}
	if originate != nil {
		// The client's TLS ended here; the backend wants its own (BackendTLSPolicy).
		backend.SetDeadline(time.Now().Add(st.handshake))
		tlsBackend := tls.Client(backend, originate)
		if err := tlsBackend.HandshakeContext(s.ctx); err != nil {
			s.c.dialErrors.Add(1)
			ses.Reason = ReasonConnect
			log.Debug("l4: backend tls handshake failed", "error", err)
			return
		}
		backend.SetDeadline(time.Time{})
		backend = tlsBackend
	}
	if len(hello) > 0 {
		// Replay the ClientHello we consumed for routing; from here the
		// backend does the handshake with the client.
		if _, err := backend.Write(hello); err != nil {
			ses.Reason = ReasonReset
			log.Debug("l4: replaying client hello failed", "error", err)
			return
		}
		s.c.bytesFromClient.Add(uint64(len(hello)))
		ses.BytesFromClient += uint64(len(hello))
	}
	err = splice(client, backend, st.idle, &s.c, ses)
	ses.Reason = closeReason(err, s.isClosing())
	if err != nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("l4: connection ended", "error", err)
	}
}

// Shutdown stops accepting (closing every listener passed to Serve), then
// waits for established connections to end on their own. When ctx expires
// first, it closes the remaining connections and returns ctx.Err(). This
// is the drain of a removed listener or of SIGTERM.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.abortAll()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.beginClose()
	s.abortAll()
	s.wg.Wait()
	return nil
}

func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
}

func (s *Server) abortAll() {
	s.cancel()
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for tc := range s.conns {
		conns = append(conns, tc)
	}
	s.mu.Unlock()
	for _, tc := range conns {
		tc.abort()
	}
}

// replayConn yields pending before reading on from Conn, so a TLS handshake
// can start over bytes that were already read to choose the route.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
