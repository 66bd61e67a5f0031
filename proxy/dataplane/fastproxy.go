package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/h1"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// The fast path's exchange with the backend (see fastpath.go).

// proxy sends a routed request to its backend and relays the response.
func (fc *fastConn) proxy(r *http.Request, ex *exchange) (int, outcome) {
	rule := ex.rule
	rule.reqMod.Apply(r.Header)
	ref := rule.pick(r, ex)
	if ref == nil || ref.backend == nil {
		// The Gateway API requires 500 for a missing or invalid backend.
		ex.log.reason = "no_backend"
		return fc.localError(ex, r, http.StatusInternalServerError, "no valid backend for this route")
	}
	ex.ref = ref
	fc.c.Discard(fc.req.Len)

	// The outgoing request, as ReverseProxy and our Rewrite build it.
	h := r.Header
	trailers := h1.HasToken(h["Te"], "trailers")
	h1.RemoveHopByHop(h)
	if trailers {
		h["Te"] = []string{"trailers"}
	}
	delete(h, "Forwarded")
	delete(h, "X-Forwarded-For")
	delete(h, "X-Forwarded-Host")
	delete(h, "X-Forwarded-Proto")
	r.URL.RawQuery = cleanQuery(r.URL.RawQuery)
	if fc.clientIP != "" {
		fc.xf[0] = fc.clientIP
		h["X-Forwarded-For"] = fc.xf[0:1:1]
	}
	fc.xf[1], fc.xf[2] = r.Host, fc.scheme
	h["X-Forwarded-Host"] = fc.xf[1:2:2]
	h["X-Forwarded-Proto"] = fc.xf[2:3:3]
	rule.rewrite.Apply(r, ex.prefix)
	ref.rewrite.Apply(r, ex.prefix)
	ref.reqMod.Apply(h)

	b := ref.backend
	if !validHostHeader(r.Host) {
		return fc.backendError(ex, r, b.Name, errors.New("http: invalid Host header"))
	}
	ex.log.upstreamStart = time.Now()
	uc, err := fc.roundTrip(b, ex, r)
	ex.upstreamDone()
	if err != nil {
		return fc.backendError(ex, r, b.Name, err)
	}
	ex.log.bytesIn = r.ContentLength
	resp := &fc.resp
	b.Observe(uc.Endpoint, resp.Status)
	hdr := resp.Header
	announced := ""
	if resp.Chunked && len(hdr["Trailer"]) > 0 {
		announced = strings.Join(hdr["Trailer"], ", ")
	}
	h1.RemoveHopByHop(hdr)
	if announced != "" {
		hdr["Trailer"] = []string{announced}
	}
	ex.beforeHeader(hdr, resp.Status)
	head := h1.ResponseHead{Status: resp.Status, Header: hdr, Close: fc.closing()}
	switch {
	case resp.NoBody:
		head.Framing = h1.NoBody
	case resp.Chunked || resp.ContentLength < 0:
		head.Framing = h1.Chunked
		head.ContentType = sniff(resp, h1.BufferedBody(uc.Conn, resp))
	default:
		head.Framing = h1.Length
		if len(uc.Buffered()) == 0 && needsSniff(resp) {
			// net/http sniffs the first body write, whatever it holds.
			if err := uc.Fill(); err != nil {
				b.ReleaseH1(uc, false)
				fc.stopWatch()
				return resp.Status, closeConn
			}
		}
		head.ContentType = sniff(resp, h1.BufferedBody(uc.Conn, resp))
	}
	fc.c.AppendResponseHead(&head)
	ex.log.header, ex.log.ttfb = hdr, time.Since(ex.log.start)
	sent := fc.c.BodyBytes
	flush := head.Framing == h1.Chunked || h1.EventStream(hdr)
	if flush {
		// ReverseProxy flushes the head at once for streamed bodies.
		err = fc.c.Flush()
	}
	if err == nil {
		err = h1.RelayBody(fc.c, uc.Conn, resp, flush)
	}
	ex.log.bytesOut = fc.c.BodyBytes - sent
	fc.stopWatch()
	if err != nil || fc.clientGone.Load() {
		ex.log.reason = relayFailure(err, fc.clientGone.Load())
		// Like ReverseProxy's ErrAbortHandler: the response is cut
		// short and the connection closed.
		b.ReleaseH1(uc, false)
		fc.s.rt.log.Debug("response body aborted", "backend", b.Name, "error", err)
		return resp.Status, closeConn
	}
	b.ReleaseH1(uc, resp.KeepAlive)
	return resp.Status, keepAlive
}

// roundTrip writes the request (and its body) to a pooled connection and
// reads the response head into fc.resp, forwarding 1xx responses. On
// success the caller owns the returned connection and releases it.
func (fc *fastConn) roundTrip(b *upstream.Backend, ex *exchange, r *http.Request) (*upstream.H1Conn, error) {
	if fc.c.Pending() > 0 {
		// A pipelined request's predecessor: answer it before waiting.
		if err := fc.c.Flush(); err != nil {
			fc.clientGone.Store(true)
			return nil, err
		}
	}
	ctx := context.Background()
	uc, ep, err := b.AcquireH1(ctx, ex.picked.Prefer, !replayable(r))
	if ep != nil {
		ex.picked.Endpoint = ep
	}
	if err != nil {
		return nil, err
	}
	method, uri := r.Method, r.URL.RequestURI()
	o := &fc.s.rt.opts
	fc.respTimedOut = false
	rp := upstream.Replay{NotIdempotent: !upstream.IdempotentMethod(r.Method, r.Header)}
	for {
		uc.AppendRequestHead(method, uri, r.Host, r.Header, r.ContentLength, "")
		if r.ContentLength > 0 {
			fc.bodyRead = true
			if err := h1.SendBody(uc.Conn, fc.c, r.ContentLength, o.RequestBodyTimeout); err != nil {
				b.ReleaseH1(uc, false)
				var we *h1.WriteError
				var ne net.Error
				switch {
				case errors.As(err, &we):
				case errors.As(err, &ne) && ne.Timeout():
					// A stalled upload: the backend connection is closed
					// and the client answered 408.
					return nil, fmt.Errorf("%w (%s): %w", errRequestBodyTimeout, o.RequestBodyTimeout, err)
				default:
					fc.clientGone.Store(true) // the client stopped sending its body
				}
				return nil, err
			}
		}
		fc.backend = uc.Conn
		now := time.Now()
		fc.respDeadline = time.Time{}
		if o.ResponseHeaderTimeout > 0 {
			fc.respDeadline = now.Add(o.ResponseHeaderTimeout)
		}
		uc.ExtendReadDeadline(now, slowBackend, slowBackend/2)
		uc.OnTimeout = fc.onSlow
		err = uc.FlushAndFill()
		if err == nil {
			err = fc.readHead(uc, method)
		} else if replayable(r) && !fc.clientGone.Load() && !fc.respTimedOut {
			// The backend reset or closed the connection before any
			// response byte: ReplayH1 sends the request to another
			// endpoint (or, for a stale pooled one, a new connection).
			b.ReleaseH1(uc, false)
			if uc, err = b.ReplayH1(ctx, &rp, uc, err); err != nil {
				return nil, err
			}
			ex.picked.Endpoint = uc.Endpoint
			ex.log.retries++
			continue
		}
		if err != nil {
			b.ReleaseH1(uc, false)
			return nil, err
		}
		return uc, nil
	}
}

// readHead reads the final response head, forwarding 1xx responses to the
// client as ReverseProxy does.
func (fc *fastConn) readHead(uc *upstream.H1Conn, method string) error {
	resp := &fc.resp
	for n := 0; ; n++ {
		if err := uc.ReadResponseHead(method, resp); err != nil {
			return err
		}
		uc.Discard(resp.Len)
		switch {
		case resp.Status == http.StatusSwitchingProtocols:
			return errors.New("backend switched protocols without being asked to")
		case resp.Status >= 200:
			fc.respDeadline = time.Time{} // the body may take its time
			uc.OnTimeout = fc.onSlow      // still watching during the body
			return nil
		case n >= max1xx:
			return errors.New("too many 1xx informational responses")
		}
		fc.c.AppendInformational(resp.Status, resp.Header)
		if err := fc.c.Flush(); err != nil {
			fc.clientGone.Store(true)
			return err
		}
	}
}

// replayable: a request may be sent again after a failure before any
// response byte when it has no body (its body streams from the client and
// is gone once sent); upstream.Replay decides by its method whether a
// new connection's failure allows it.
func replayable(r *http.Request) bool { return r.ContentLength == 0 }

// backendError answers a failed backend exchange as the general path's
// ErrorHandler does.
func (fc *fastConn) backendError(ex *exchange, r *http.Request, backend string, err error) (int, outcome) {
	fc.stopWatch()
	code, reason := http.StatusBadGateway, "connect"
	switch {
	case fc.clientGone.Load():
		code, reason = 499, "client_cancel"
	case errors.Is(err, errRequestBodyTimeout):
		ex.log.reason = "request_body_timeout"
		fc.s.rt.log.Debug("request body timed out", "backend", backend, "error", err)
		fc.writeError(ex, r.Method, http.StatusRequestTimeout, http.StatusText(http.StatusRequestTimeout), true)
		return http.StatusRequestTimeout, closeConn
	case fc.respTimedOut:
		code, reason = http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, upstream.ErrNoEndpoints):
		code, reason = http.StatusServiceUnavailable, "no_endpoints"
	case errors.Is(err, context.DeadlineExceeded):
		code, reason = http.StatusGatewayTimeout, "timeout"
	}
	ex.log.reason = reason
	m := fc.s.rt.metrics
	m.UpstreamErrors.WithLabelValues(backend, reason).Inc()
	fc.s.rt.log.Debug("upstream error", "backend", backend, "error", err)
	if code == 499 {
		return code, closeConn
	}
	// Part of the body may be gone once it was read from: never read
	// the rest as a request.
	out := closeConn
	if !fc.bodyRead {
		out = fc.discardBody()
	}
	fc.writeError(ex, r.Method, code, http.StatusText(code), out == closeConn)
	return code, out
}

// needsSniff reports whether net/http would sniff a Content-Type for
// this response's body.
func needsSniff(resp *h1.Response) bool {
	h := resp.Header
	if _, ok := h["Content-Type"]; ok || resp.NoBody || resp.ContentLength == 0 {
		return false
	}
	ce := h["Content-Encoding"]
	return len(ce) == 0 || ce[0] == ""
}

// sniff returns the Content-Type net/http would add, from the first body
// bytes (for a streamed body, those already at hand: ReverseProxy flushes
// the head at once, before it has read any).
func sniff(resp *h1.Response, first []byte) string {
	if len(first) == 0 || !needsSniff(resp) {
		return ""
	}
	return http.DetectContentType(first)
}

// watchClient runs when the backend has not answered within slowBackend:
// from then on the client connection is watched (h1.Conn.Watch), like
// net/http's background read, and a client that goes away closes the
// backend connection, which ends the exchange. It returns true so the
// read that timed out is tried again without a deadline.
func (fc *fastConn) watchClient() bool {
	if fc.backend == nil {
		return false
	}
	if !fc.respDeadline.IsZero() && !time.Now().Before(fc.respDeadline) {
		// No response head within ResponseHeaderTimeout.
		fc.respTimedOut = true
		return false
	}
	fc.backend.SetReadDeadline(fc.respDeadline)
	if fc.unwatch != nil {
		return true
	}
	backend := fc.backend.NetConn()
	fc.unwatch = fc.c.Watch(func() {
		fc.clientGone.Store(true)
		backend.Close()
	})
	if hook := clientWatched.Load(); hook != nil {
		(*hook)()
	}
	return true
}

// clientWatched, when set (by tests), runs each time watchClient starts watching a client,
// so a test can act on the watched connection without guessing at slowBackend.
var clientWatched atomic.Pointer[func()]

// stopWatch ends a watch started by watchClient.
func (fc *fastConn) stopWatch() {
	fc.backend = nil
	if fc.unwatch == nil {
		return
	}
	fc.unwatch()
	fc.unwatch = nil
}

// validHostHeader is httpguts.ValidHostHeader: the Transport refuses to
// send any other Host.
func validHostHeader(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!$%&'()*+,-.:;=[]_~", rune(c)) {
			return false
		}
	}
	return true
}

// cleanQuery drops unparsable query parameters as ReverseProxy does for
// Rewrite: a query with ';', a bad escape or more than 10000 parameters
// is re-encoded from what url.ParseQuery keeps.
func cleanQuery(q string) string {
	if len(q) >= 10000 && strings.Count(q, "&")+1 > 10000 {
		return reencodeQuery(q)
	}
	for i := 0; i < len(q); {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 3
		default:
			i++
		}
	}
	return q
}

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q) //nolint:errcheck // keeps the pairs it could parse, as net/http does
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
