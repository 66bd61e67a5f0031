package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/router"
)

// HTTPS binds serve HTTP/1.1 on the fast path too: the bind's own accept
// loop completes each TLS handshake (within ReadHeaderTimeout, as
// net/http does) and runs the fast path on the *tls.Conn. A client that
// chose h2 goes to net/http untouched, as a *tls.Conn whose handshake is
// done. A connection handed over after the fast path read from it
// reaches net/http as a handedTLSConn; net/http does not see its TLS
// state, which the handler then takes from the context (handedTLS), so
// r.TLS is the same on every path.

// fastTLSConfig is the fast path's config for HTTPS binds: net/http
// changes its server's own config when it sets up HTTP/2, so the two
// do not share one.
func (s *server) fastTLSConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		return s.tlsFor(hello.ServerName)
	}}
}

// handshake completes the TLS handshake of fc's connection and reports
// whether the fast path serves it; when it does not, h2 tells whether
// the connection is good for net/http (the client chose HTTP/2).
func (fc *fastConn) handshake(tc *tls.Conn) (fast, h2 bool) {
	d := fc.s.fe.readHeaderTimeout
	if d > 0 {
		dl := time.Now().Add(d)
		tc.SetReadDeadline(dl)  //nolint:errcheck // a failed set fails the handshake's I/O
		tc.SetWriteDeadline(dl) //nolint:errcheck // likewise
	}
	if err := tc.Handshake(); err != nil {
		// As net/http reports it (in the error log, which counts it).
		reason := err.Error()
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			// net/http's answer to cleartext HTTP on an HTTPS port.
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n") //nolint:errcheck // the connection closes either way
			reason = "client sent an HTTP request to an HTTPS server"
		}
		fc.s.http.ErrorLog.Printf("http: TLS handshake error from %s: %v", fc.remote, reason)
		return false, false
	}
	if d > 0 {
		tc.SetReadDeadline(time.Time{})  //nolint:errcheck // reads set their own deadlines
		tc.SetWriteDeadline(time.Time{}) //nolint:errcheck // as net/http leaves it
	}
	st := tc.ConnectionState()
	if st.NegotiatedProtocol == "h2" {
		return false, true
	}
	fc.tlsState = &st
	fc.scheme = "https"
	if st.ServerName != "" {
		fc.sni = router.NormalizeHost(st.ServerName)
	}
	return true, false
}

// looksLikeHTTP is net/http's test of a TLS record header that is the
// start of a cleartext HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// handedTLSConn is an HTTPS connection handed to net/http after the fast
// path read from it.
type handedTLSConn struct {
	replayConn
	state *tls.ConnectionState
}

type handedTLSKey struct{}

// withHandedTLS is the ConnContext of HTTPS binds' http.Server.
func withHandedTLS(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*handedTLSConn); ok {
		return context.WithValue(ctx, handedTLSKey{}, hc.state)
	}
	return ctx
}

// handedTLS returns the TLS state of a request's handed-over connection,
// nil for any other.
func handedTLS(ctx context.Context) *tls.ConnectionState {
	st, _ := ctx.Value(handedTLSKey{}).(*tls.ConnectionState)
	return st
}
