package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/h3"
	"github.com/agentgateway/agentgateway-go/proxy/l4"
	"github.com/agentgateway/agentgateway-go/proxy/router"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

var discardLogger = log.New(io.Discard, "", 0)

// server is one open bind: a socket and whatever serves it. It survives
// reloads as long as its identity (bindIdentity) is unchanged.
type server struct {
	rt       *Runtime
	name     string
	identity string
	ln       net.Listener
	pc       net.PacketConn
	http     *http.Server
	tcp      *l4.Server
	udp      *l4.UDPServer
	h3       *h3.Server     // HTTP/3 on the bind's UDP port, sharing the HTTPS handler
	h3pc     net.PacketConn // its socket
	// fast is set on HTTP and HTTPS binds whose connections start on the
	// HTTP/1.1 fast path (fastpath.go) and move to http when it does not
	// handle a request (on HTTPS, after the handshake, when the client
	// did not choose h2).
	fast    *fastConns
	done    chan struct{} // closed when Serve returned
	stopped bool          // already shut down synchronously (UDP re-bind)
	// state is the routing state this socket serves. Apply stores a new
	// one for kept binds after the graph swap; a removed bind keeps its
	// last state, so requests and handshakes that race with its removal
	// are still served while it drains.
	state atomic.Pointer[bindState]
	// fe is how the bind serves client connections (frontend.go).
	fe frontend
	// cancelBase cancels the context of every request of http, when a
	// shutdown runs out of time (hijacked connections, which
	// http.Server.Close leaves alone, end with it).
	cancelBase context.CancelFunc
	// upgrades counts the requests that switched protocols and still
	// relay (http.Server.Shutdown does not wait for them).
	upgrades atomic.Int64
}

// bindIdentity is what must stay equal for a bind to keep its socket.
func bindIdentity(b *config.Bind) string {
	return fmt.Sprintf("%s|%s|%d|%s|%t|%s", b.Name, b.Address, b.Port, b.Protocol, b.HTTP3, frontendIdentity(b))
}

func (rt *Runtime) listen(b *config.Bind, bs *bindState, g *graph) (*server, error) {
	s := &server{rt: rt, name: b.Name, identity: bindIdentity(b), done: make(chan struct{}), fe: rt.frontendFor(b)}
	addr := net.JoinHostPort(b.Address, strconv.Itoa(b.Port))
	var err error
	if b.Protocol == config.ProtocolUDP {
		s.pc, err = rt.listenUDP(addr)
	} else {
		s.ln, err = rt.listenTCP(addr)
	}
	if err != nil {
		return nil, fmt.Errorf("bind %s: listen on %s: %w (is another process or bind using the port?)", b.Name, addr, err)
	}
	switch b.Protocol {
	case config.ProtocolHTTP, config.ProtocolHTTPS:
		s.http = rt.newHTTPServer(s, b.Protocol == config.ProtocolHTTPS)
		if !rt.opts.DisableFastPath {
			s.fast = &fastConns{handoff: newHandoffListener(s.ln.Addr())}
			if b.Protocol == config.ProtocolHTTPS {
				s.fast.tls = s.fastTLSConfig()
			}
		}
		if b.HTTP3 {
			if err := rt.listenH3(s, addr); err != nil {
				s.ln.Close()
				return nil, fmt.Errorf("bind %s: %w", b.Name, err)
			}
		}
	case config.ProtocolTCP, config.ProtocolTLS:
		cfg, err := l4Config(b, bs, g, s)
		if err == nil {
			s.tcp, err = l4.NewServer(cfg, rt.log.With("bind", b.Name))
		}
		if err != nil {
			s.ln.Close()
			return nil, fmt.Errorf("bind %s: %w", b.Name, err)
		}
	case config.ProtocolUDP:
		cfg, err := udpConfig(b, g, s)
		if err == nil {
			s.udp, err = l4.NewUDPServer(cfg, rt.log.With("bind", b.Name))
		}
		if err != nil {
			s.pc.Close()
			return nil, fmt.Errorf("bind %s: %w", b.Name, err)
		}
	}
	return s, nil
}

// update gives an L4 server the routes of a new graph; HTTP servers read
// the graph per request and need nothing.
func (s *server) update(b *config.Bind, bs *bindState, g *graph) error {
	switch {
	case s.tcp != nil:
		cfg, err := l4Config(b, bs, g, s)
		if err != nil {
			return err
		}
		return s.tcp.Update(cfg)
	case s.udp != nil:
		cfg, err := udpConfig(b, g, s)
		if err != nil {
			return err
		}
		return s.udp.Update(cfg)
	}
	return nil
}

func (rt *Runtime) listenH3(s *server, addr string) error {
	pc, err := rt.listenUDP(addr)
	if err != nil {
		return fmt.Errorf("listen for HTTP/3 on udp %s: %w", addr, err)
	}
	// Its own tls.Config: net/http mutates the TCP server's config when
	// it sets up HTTP/2, which would race with quic-go cloning it.
	tlsConf := &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		return s.tlsFor(hello.ServerName)
	}}
	srv, err := h3.NewServer(s, tlsConf, h3.Options{
		IdleTimeout:          s.fe.idleTimeout,
		MaxHeaderBytes:       s.fe.maxHeaderBytes,
		MaxConcurrentStreams: int64(s.fe.maxStreams),
		Logger:               rt.log,
	})
	if err != nil {
		pc.Close()
		return err
	}
	s.h3, s.h3pc = srv, pc
	return nil
}

func (s *server) serve() {
	defer close(s.done)
	if s.h3 != nil {
		h3done := make(chan struct{})
		go func() {
			defer close(h3done)
			if err := s.h3.Serve(s.h3pc); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.rt.log.Error("HTTP/3 stopped serving", "bind", s.name, "error", err)
			}
		}()
		defer func() { <-h3done }()
	}
	var err error
	switch {
	case s.fast != nil:
		httpDone := make(chan error, 1)
		go func() { httpDone <- s.http.Serve(s.fast.handoff) }()
		err = s.acceptFast()
		if herr := <-httpDone; !errors.Is(herr, http.ErrServerClosed) && !errors.Is(herr, net.ErrClosed) {
			err = herr
		}
	case s.http != nil && s.http.TLSConfig != nil:
		err = s.http.Serve(tls.NewListener(s.clients(), s.http.TLSConfig))
	case s.http != nil:
		err = s.http.Serve(framingListener{Listener: s.clients(), maxHeaderBytes: s.fe.maxHeaderBytes})
	case s.tcp != nil:
		err = s.tcp.Serve(s.clients())
	case s.udp != nil:
		err = s.udp.Serve(s.pc)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, l4.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		s.rt.log.Error("bind stopped serving", "bind", s.name, "error", err)
	}
}

// shutdown stops accepting at once and lets open connections finish within
// ctx; then it closes them.
func (s *server) shutdown(ctx context.Context) {
	var err error
	switch {
	case s.http != nil:
		if s.h3 != nil {
			go func() {
				if s.h3.Shutdown(ctx) != nil {
					s.h3.Close() //nolint:errcheck // the forced close after a failed graceful shutdown has nothing more to say
				}
			}()
		}
		fastDone := make(chan struct{})
		if s.fast != nil {
			// Serve on the handoff listener does not own the socket.
			s.ln.Close()
			go func() {
				defer close(fastDone)
				s.fast.shutdown(ctx) //nolint:errcheck // on ctx expiry it has closed every connection itself
			}()
		} else {
			close(fastDone)
		}
		err = s.http.Shutdown(ctx)
		if err != nil {
			s.http.Close() //nolint:errcheck // the forced close after a failed graceful shutdown has nothing more to say
		}
		if err == nil {
			err = s.drainUpgrades(ctx)
		}
		if err != nil || ctx.Err() != nil {
			s.cancelBase()
		}
		<-fastDone
	case s.tcp != nil:
		err = s.tcp.Shutdown(ctx)
		if err != nil {
			s.tcp.Close() //nolint:errcheck // the forced close after a failed graceful shutdown has nothing more to say
		}
	case s.udp != nil:
		err = s.udp.Shutdown(ctx)
		if err != nil {
			s.udp.Close() //nolint:errcheck // the forced close after a failed graceful shutdown has nothing more to say
		}
	}
	<-s.done
}

func (rt *Runtime) newHTTPServer(s *server, useTLS bool) *http.Server {
	fe := &s.fe
	base, cancel := context.WithCancel(context.Background())
	s.cancelBase = cancel
	hs := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: fe.readHeaderTimeout,
		IdleTimeout:       fe.idleTimeout,
		MaxHeaderBytes:    fe.maxHeaderBytes,
		ErrorLog:          rt.metrics.httpErrorLog(rt.log, s.name),
		// "OPTIONS *" is routed like any other request instead of being
		// answered by net/http.
		DisableGeneralOptionsHandler: true,
		Protocols:                    new(http.Protocols),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: fe.maxStreams,
			// Bounded so one client cannot make the proxy buffer a lot.
			MaxDecoderHeaderTableSize: 4096,
			MaxReceiveBufferPerStream: 1 << 20,
		},
	}
	hs.Protocols.SetHTTP1(true)
	if useTLS {
		hs.Protocols.SetHTTP2(true)
		hs.TLSConfig = &tls.Config{
			// net/http only enables HTTP/2 on Serve when the server's
			// own config mentions h2; the per-listener config decides
			// what is actually negotiated.
			NextProtos: []string{"h2", "http/1.1"},
			// Certificates, ALPN and client validation are chosen per
			// handshake from the current graph, so they change on reload
			// without re-binding.
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				return s.tlsFor(hello.ServerName)
			},
		}
		// Connections the fast path hands over after the handshake
		// reach net/http wrapped, without their *tls.Conn type: the
		// handler takes their TLS state from the context (withTLSState).
		hs.ConnContext = withHandedTLS
	} else {
		// h2c with prior knowledge on cleartext ports.
		hs.Protocols.SetUnencryptedHTTP2(true)
		// Cleartext connections reach net/http through a framingConn
		// (framing.go), which the handler consults.
		hs.ConnContext = withFramingConn
	}
	return hs
}

func (s *server) tlsFor(sni string) (*tls.Config, error) {
	bs := s.state.Load()
	var ls *listenerState
	if sni == "" {
		// No SNI (clients dialing an IP): use the first listener.
		ls = bs.first
	} else if l, ok := bs.listenerFor(router.NormalizeHost(sni)); ok {
		ls = l
	}
	if ls == nil || ls.tls == nil {
		return nil, fmt.Errorf("no listener for server name %q", sni)
	}
	return ls.tls, nil
}

// ServeHTTP is the entry point of every HTTP request on a bind: it picks
// the listener and route from the current graph and runs the rule. The
// fast path (fastConn.serveRequest) repeats these steps for the requests
// it serves: keep the two in step.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.TLS == nil {
		r.TLS = handedTLS(r.Context())
	}
	bs := s.state.Load()
	ex := &exchange{}
	ex.log.start = start
	ex.w = responseWriter{ResponseWriter: w, ex: ex}
	rw := &ex.w
	if bs.altSvc != "" {
		w.Header().Set("Alt-Svc", bs.altSvc)
	}
	if r.ProtoMajor == 1 && upgrading(r) {
		rw.closeUnlessSwitching = true
		s.upgrades.Add(1)
		defer s.upgrades.Add(-1)
	}
	if r.URL.User != nil {
		// An absolute-form target with userinfo ("http://a@evil/"):
		// net/http takes the host after '@' as the request's Host, which
		// a front end that reads the target differently would not.
		// RFC 9110 §4.2.4 forbids userinfo in http(s) URIs; nginx and
		// we answer 400.
		w.Header().Set("Connection", "close")
		localError(rw, r, http.StatusBadRequest, "userinfo in the request target")
		return
	}
	if !checkChunked(rw, r, ex) {
		return
	}
	tb := s.withBodyTimeout(w, r)
	sanitize(r)
	ex.countBody(r)
	host := router.NormalizeHost(r.Host)
	listenerName, routeKey, ruleName := "", "", ""
	var al *accessLog // the listener's
	defer func() {
		elapsed := time.Since(start)
		ex.endSpan(rw.status(), listenerName, routeKey)
		s.rt.metrics.record(s.name, listenerName, ex.rule, ex.ref, rw.status(), elapsed)
		s.logRequest(al, r, ex, &httpLine{listener: listenerName, route: routeKey, rule: ruleName, host: r.Host, path: r.URL.Path,
			status: rw.status(), header: w.Header(), elapsed: elapsed, bytesIn: ex.log.body.n})
	}()
	ls, ok := bs.listenerFor(host)
	if r.TLS != nil && r.TLS.ServerName != "" {
		// HTTP/2 connection coalescing: a client may reuse a connection
		// made for one SNI for another host whose certificate matched.
		// If that host belongs to a different listener, the request must
		// be retried on its own connection (RFC 9110 §15.5.20).
		sniListener, _ := bs.listenerFor(router.NormalizeHost(r.TLS.ServerName))
		if !ok || sniListener != ls {
			// Not a gRPC error: 421 tells the client to retry on a new
			// connection, which gRPC clients do at the HTTP/2 layer.
			ex.log.reason = "misdirected"
			http.Error(rw, "misdirected request: host does not match the TLS server name", http.StatusMisdirectedRequest)
			return
		}
	}
	if !ok {
		ex.log.reason = "no_listener"
		localError(rw, r, http.StatusNotFound, "no listener for host")
		return
	}
	listenerName, al = ls.config.Name, ls.accessLog
	if ls.tracing != nil {
		r = ls.tracing.start(r, ex)
	}
	// The listener's pre-routing filters run before the one route lookup;
	// the listener stays the one chosen above.
	if ls.preRouting != nil && !ls.preRouting.run(rw, r) {
		return
	}
	m, ok := ls.table.Route(r, host)
	if !ok {
		ex.log.reason = "no_route"
		localError(rw, r, http.StatusNotFound, "no route")
		return
	}
	rule := m.Value
	routeKey, ruleName = rule.routeKey, rule.name
	ex.rule = rule
	ex.prefix = m.Prefix
	ctx := context.WithValue(r.Context(), exchangeKey{}, ex)
	ctx = upstream.WithPick(ctx, &ex.picked)
	ctx = withTimedBody(ctx, tb)
	if d := s.rt.opts.ResponseHeaderTimeout; d > 0 && !rule.timed {
		var stop func()
		ctx, stop = headerDeadline(ctx, d)
		defer stop()
	}
	r = r.WithContext(ctx)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rule.serve(rw, r, ex, scheme, host, bs.config.Port)
}
