// Package h1 is the HTTP/1.1 wire format of the proxy's fast path, the
// path plain reverse-proxied requests take on cleartext binds.
//
// net/http costs a proxy two goroutine hand-offs, a background read and a
// cloned header map per request on each side. The fast path instead runs
// one goroutine per client connection that reads a request, writes it to a
// pooled backend connection, reads the reply and writes it back, with
// buffers that go back to a pool while a connection is idle. This package
// has the pieces that know the wire format and nothing about routing:
//
//   - ParseRequest accepts only the plain, unambiguous subset of HTTP/1.1
//     requests and reports Unsupported for everything else (HTTP/1.0,
//     Transfer-Encoding, Expect, Upgrade, obs-fold, bare LF, duplicate or
//     malformed Content-Length or Host, non-token names, control bytes,
//     absolute or asterisk targets, heads larger than the buffer). The
//     caller then hands the untouched connection to net/http, whose
//     hardening (400, 431, 501, h2c, upgrades) applies unchanged. Nothing
//     ambiguous is ever interpreted here.
//   - ParseResponse reads a backend's reply as net/http's Transport does,
//     and rejects what it rejects (the caller answers 502).
//   - Body framing: Content-Length, chunked with trailers, and
//     close-delimited bodies, re-framed for the client as net/http's
//     server would.
//   - Conn: a connection with a pooled read buffer and an output buffer,
//     both returned to their pools while the connection is idle. On Linux
//     its socket calls are raw system calls through syscall.RawConn (no
//     scheduler bookkeeping; the netpoller still waits), and FlushAndFill
//     writes a request and waits for the reply without the read attempt
//     that would find nothing yet.
//   - Serve runs a connection's requests inside one wait of the
//     netpoller, so that waiting for the next request after a response
//     costs no read attempt either (session.go); Watch notices a peer
//     that goes away while the caller waits on another connection,
//     without reading and without the read lock Serve holds.
//   - BodyReader: a response body as an io.Reader, for the upstream
//     package's RoundTrip over the same connections.
package h1
