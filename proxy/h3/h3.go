package h3

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Options tune an HTTP/3 server. The zero value is usable.
type Options struct {
	// IdleTimeout closes connections without HTTP/3 activity for this
	// long. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's HEADERS frame. Zero means
	// http.DefaultMaxHeaderBytes, as for the TCP listeners.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds concurrent requests per connection, the
	// HTTP/3 twin of HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS. Zero means
	// DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int64
	// HandshakeTimeout bounds the QUIC handshake. Zero means quic-go's default.
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
}

// Defaults applied when Options leaves a field zero. 250 streams matches
// net/http's HTTP/2 default, so clients see the same concurrency on h2 and h3.
const (
	DefaultIdleTimeout          = 2 * time.Minute
	DefaultMaxConcurrentStreams = 250
)

// Server serves an http.Handler over HTTP/3 on one UDP socket.
type Server struct {
	srv *http3.Server

	mu     sync.Mutex
	pc     net.PacketConn
	closed bool
}

// NewServer returns a server for handler with the HTTPS listener's TLS
// config. tlsConf is used as is apart from ALPN, which quic-go sets to h3 on
// a clone (including configs returned by GetConfigForClient), so SNI
// certificate selection and client-certificate checks are shared with the
// TCP listener. handler should be the runtime's swapping handler: HTTP/3
// shares routing with HTTPS and needs no reload hook of its own.
//
// 0-RTT stays off: early data can be replayed by an attacker, and a proxy
// cannot know which upstream requests are idempotent enough to allow it.
func NewServer(handler http.Handler, tlsConf *tls.Config, opts Options) (*Server, error) {
	if handler == nil {
		return nil, errors.New("h3: a handler is required")
	}
	if tlsConf == nil || (len(tlsConf.Certificates) == 0 && tlsConf.GetCertificate == nil && tlsConf.GetConfigForClient == nil) {
		return nil, errors.New("h3: a TLS config with a certificate (or GetCertificate/GetConfigForClient) is required")
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	streams := opts.MaxConcurrentStreams
	if streams == 0 {
		streams = DefaultMaxConcurrentStreams
	}
	return &Server{srv: &http3.Server{
		TLSConfig: tlsConf,
		QUICConfig: &quic.Config{
			Allow0RTT:            false,
			MaxIncomingStreams:   streams,
			MaxIdleTimeout:       idle,
			HandshakeIdleTimeout: opts.HandshakeTimeout,
		},
		Handler:        handler,
		MaxHeaderBytes: opts.MaxHeaderBytes,
		IdleTimeout:    idle,
		Logger:         opts.Logger,
	}}, nil
}

// Serve serves HTTP/3 on pc until Shutdown or Close, which also close pc.
// It returns http.ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		return http.ErrServerClosed
	}
	s.pc = pc
	s.mu.Unlock()
	return s.srv.Serve(pc)
}

// Shutdown sends GOAWAY, stops accepting connections and waits for running
// requests to finish; when ctx expires first, it closes the remaining
// connections and returns ctx.Err(). The UDP socket is closed last, since
// quic-go leaves sockets it did not open to the caller.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.closeSocket())
}

// Close aborts every connection at once and closes the socket.
func (s *Server) Close() error {
	err := s.srv.Close()
	return errors.Join(err, s.closeSocket())
}

func (s *Server) closeSocket() error {
	s.mu.Lock()
	s.closed = true
	pc := s.pc
	s.pc = nil
	s.mu.Unlock()
	if pc == nil {
		return nil
	}
	if err := pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// AltSvcMaxAge is how long clients may remember the HTTP/3 endpoint. A day
// keeps the cost of a removed listener bounded while sparing clients a
// TCP round trip on most visits.
const AltSvcMaxAge = 86400

// AltSvcValue is the Alt-Svc header value announcing HTTP/3 on udpPort.
func AltSvcValue(udpPort int) string {
	return `h3=":` + strconv.Itoa(udpPort) + `"; ma=` + strconv.Itoa(AltSvcMaxAge)
}

// WithAltSvc wraps the HTTPS (TCP) handler so its responses announce HTTP/3
// on udpPort. Responses to plaintext and to HTTP/3 requests are left alone:
// Alt-Svc over cleartext would invite a protocol switch the origin did not
// authenticate, and over HTTP/3 it is redundant. The header is set before
// next runs, so a route filter can still remove or replace it.
func WithAltSvc(udpPort int, next http.Handler) http.Handler {
	value := []string{AltSvcValue(udpPort)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && r.ProtoMajor < 3 {
			// Direct map assignment: the key is canonical, and sharing the
			// slice avoids an allocation per request (net/http does not
			// mutate header value slices it is given).
			w.Header()["Alt-Svc"] = value
		}
		next.ServeHTTP(w, r)
	})
}
