package l4

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultUDPIdleTimeout matches Envoy's udp_proxy default.
	DefaultUDPIdleTimeout = time.Minute
	// DefaultMaxUDPSessions bounds memory (a session holds a socket, a
	// goroutine and a 64 KiB buffer) against clients spraying source ports.
	DefaultMaxUDPSessions = 1024
	maxDatagram           = 64 << 10
)

// UDPConfig is what a UDP listener does with its datagrams.
type UDPConfig struct {
	// Name identifies the route in logs.
	Name string
	// Listener names the route's listener in session reports.
	Listener string
	Backends []WeightedTarget
	// IdleTimeout ends a client's session after this long without a
	// datagram either way. Zero means DefaultUDPIdleTimeout.
	IdleTimeout time.Duration
	// MaxSessions bounds concurrent client sessions; datagrams that would
	// open one more are dropped. Zero means DefaultMaxUDPSessions. Dropping
	// rather than evicting keeps a flood of new source addresses from
	// pushing established clients out.
	MaxSessions int
	// OnClose, when set, receives every session's report as it ends
	// (access logs).
	OnClose func(*Session)
}

type udpState struct {
	name        string
	listener    string
	onClose     func(*Session)
	picker      *picker
	idle        time.Duration
	maxSessions int
}

func compileUDP(cfg UDPConfig) (*udpState, error) {
	p, err := newPicker(cfg.Backends)
	if err != nil {
		return nil, err
	}
	st := &udpState{
		name:        cfg.Name,
		listener:    cfg.Listener,
		onClose:     cfg.OnClose,
		picker:      p,
		idle:        orDefault(cfg.IdleTimeout, DefaultUDPIdleTimeout),
		maxSessions: cfg.MaxSessions,
	}
	if st.idle < 0 {
		return nil, errors.New("udp idle timeout must not be negative")
	}
	if st.maxSessions <= 0 {
		st.maxSessions = DefaultMaxUDPSessions
	}
	return st, nil
}

// UDPStats are cumulative counters of a UDPServer.
type UDPStats struct {
	Sessions           int64  // current
	SessionsCreated    uint64 //
	SessionsRejected   uint64 // datagrams dropped at MaxSessions, while draining, or without a backend
	DatagramsToBackend uint64
	DatagramsToClient  uint64
	DialErrors         uint64
}

// UDPServer relays datagrams between clients and backends. Each client
// address gets its own session: a connected socket to one backend chosen at
// the first datagram, so replies find their way back and a backend sees a
// stable peer per client, which stateful protocols (QUIC, games, VPNs) need.
type UDPServer struct {
	state atomic.Pointer[udpState]
	log   *slog.Logger

	sessionsCreated, sessionsRejected atomic.Uint64
	toBackend, toClient, dialErrors   atomic.Uint64

	mu       sync.Mutex
	pc       net.PacketConn
	serving  bool
	draining bool
	closed   bool
	sessions map[netip.AddrPort]*udpSession
	gone     chan struct{} // signalled (non-blocking) when a session ends
	wg       sync.WaitGroup
}

type udpSession struct {
	pc      net.PacketConn // the listener socket replies leave through
	client  net.Addr
	backend net.Conn
	act     activity
	// The session's report: its counts are written by the Serve
	// goroutine (from the client) and relayReplies (to the client), and
	// read by relayReplies at the end.
	report                 *Session
	fromClient, datagramsC atomic.Uint64
	onClose                func(*Session)
}

// NewUDPServer validates cfg. log may be nil.
func NewUDPServer(cfg UDPConfig, log *slog.Logger) (*UDPServer, error) {
	st, err := compileUDP(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &UDPServer{
		log:      log,
		sessions: map[netip.AddrPort]*udpSession{},
		gone:     make(chan struct{}, 1),
	}
	s.state.Store(st)
	return s, nil
}

// Update applies cfg to sessions created from now on. Existing sessions keep
// their backend until they expire: moving a client mid-conversation would
// break any protocol with state on the backend.
func (s *UDPServer) Update(cfg UDPConfig) error {
	st, err := compileUDP(cfg)
	if err != nil {
		return err
	}
	s.state.Store(st)
	return nil
}

// Stats returns a snapshot of the counters.
func (s *UDPServer) Stats() UDPStats {
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	return UDPStats{
		Sessions:           int64(n),
		SessionsCreated:    s.sessionsCreated.Load(),
		SessionsRejected:   s.sessionsRejected.Load(),
		DatagramsToBackend: s.toBackend.Load(),
		DatagramsToClient:  s.toClient.Load(),
		DialErrors:         s.dialErrors.Load(),
	}
}

// Serve relays datagrams received on pc until Shutdown or Close, which close
// pc. A UDPServer serves one PacketConn, because replies must leave through
// the socket the client sent to.
func (s *UDPServer) Serve(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("l4: UDPServer already serving a PacketConn; create one server per UDP listener")
	}
	s.serving = true
	s.pc = pc
	s.mu.Unlock()

	buf := make([]byte, maxDatagram)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				continue
			}
			return err
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		key := ua.AddrPort()
		key = netip.AddrPortFrom(key.Addr().Unmap(), key.Port())
		sess := s.session(pc, key, addr)
		if sess == nil {
			continue
		}
		sess.act.touch()
		if _, err := sess.backend.Write(buf[:n]); err != nil {
			// Typically ECONNREFUSED reported from an earlier ICMP: the
			// datagram is lost, as it would be on the wire.
			s.log.Debug("l4: udp write to backend failed", "error", err)
			continue
		}
		s.toBackend.Add(1)
		sess.fromClient.Add(uint64(n))
		sess.datagramsC.Add(1)
	}
}

func (s *UDPServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// session returns the client's session, creating it when allowed. Only the
// Serve goroutine creates sessions, so the dial can run outside the lock.
func (s *UDPServer) session(pc net.PacketConn, key netip.AddrPort, client net.Addr) *udpSession {
	s.mu.Lock()
	sess := s.sessions[key]
	full := len(s.sessions) >= s.state.Load().maxSessions
	draining := s.draining || s.closed
	s.mu.Unlock()
	if sess != nil {
		return sess
	}
	if full || draining {
		s.sessionsRejected.Add(1)
		return nil
	}
	st := s.state.Load()
	addr, err := st.picker.pick()
	if err != nil {
		s.sessionsRejected.Add(1)
		return nil
	}
	backend, err := net.Dial("udp", addr)
	if err != nil {
		s.dialErrors.Add(1)
		s.log.Debug("l4: udp dial failed", "backend", addr, "error", err)
		return nil
	}
	sess = &udpSession{pc: pc, client: client, backend: backend, act: activity{start: time.Now()}, onClose: st.onClose}
	if st.onClose != nil {
		sess.report = &Session{Start: sess.act.start, Route: st.name, Listener: st.listener, Client: client.String(), Upstream: addr, Reason: ReasonIdle}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		backend.Close()
		return nil
	}
	s.sessions[key] = sess
	s.wg.Add(1)
	s.mu.Unlock()
	s.sessionsCreated.Add(1)
	go s.relayReplies(key, sess, st.idle)
	return sess
}

// relayReplies copies the backend's datagrams to the client until the
// session has been idle for idle or the server closes.
func (s *UDPServer) relayReplies(key netip.AddrPort, sess *udpSession, idle time.Duration) {
	defer s.wg.Done()
	defer s.endSession(key, sess)
	buf := make([]byte, maxDatagram)
	// One deadline per idle period instead of per datagram: on expiry we
	// look at when traffic last moved either way and extend if it is recent.
	sess.backend.SetReadDeadline(time.Now().Add(idle))
	for {
		n, err := sess.backend.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if d := sess.act.idleFor(); d < idle {
					sess.backend.SetReadDeadline(time.Now().Add(idle - d))
					continue
				}
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ECONNREFUSED and friends: the backend is not listening right
			// now; keep the session, later datagrams may get through.
			continue
		}
		sess.act.touch()
		if _, err := sess.pc.WriteTo(buf[:n], sess.client); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.toClient.Add(1)
		if r := sess.report; r != nil {
			r.BytesToClient += uint64(n)
			r.DatagramsToClient++
		}
	}
}

func (s *UDPServer) endSession(key netip.AddrPort, sess *udpSession) {
	sess.backend.Close()
	if r := sess.report; r != nil {
		r.Duration = time.Since(r.Start)
		r.BytesFromClient, r.DatagramsFromClient = sess.fromClient.Load(), sess.datagramsC.Load()
		if s.isClosed() {
			r.Reason = ReasonShutdown
		}
		sess.onClose(r)
	}
	s.mu.Lock()
	if s.sessions[key] == sess {
		delete(s.sessions, key)
	}
	s.mu.Unlock()
	select {
	case s.gone <- struct{}{}:
	default:
	}
}

// Shutdown stops creating sessions and lets existing ones run until they go
// idle; when ctx expires first, it closes everything and returns ctx.Err().
// The socket stays open meanwhile because replies leave through it.
func (s *UDPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		n := len(s.sessions)
		s.mu.Unlock()
		if n == 0 {
			return s.Close()
		}
		select {
		case <-s.gone:
		case <-ctx.Done():
			s.Close() //nolint:errcheck // ctx expired: the forced close is the fallback, ctx.Err() is the result
			return ctx.Err()
		}
	}
}

// Close closes the socket and every session at once.
func (s *UDPServer) Close() error {
	s.mu.Lock()
	s.closed = true
	pc := s.pc
	sessions := make([]*udpSession, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	var err error
	if pc != nil {
		err = pc.Close()
	}
	for _, sess := range sessions {
		sess.backend.Close()
	}
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
