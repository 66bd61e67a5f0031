package dataplane

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/h1"
	"github.com/agentgateway/agentgateway-go/proxy/router"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// The fast path serves plain reverse-proxied HTTP/1.1 on cleartext binds
// without net/http: one goroutine per client connection reads a request
// (package h1), routes it with the same tables, applies the same filters
// and exchanges it with a pooled backend connection. It gives up, before
// consuming anything, on every request it does not handle exactly as the
// general path would: anything package h1 does not parse (so net/http's
// own validation answers the odd requests), and rules with filters or
// policies other than header modifiers, URL rewrites, weights and session
// persistence, or with a backend that is not plain HTTP/1.1. The
// connection then goes to net/http for good (handOver).
//
// On Linux the requests without a body are served inside a session
// (h1.Conn.Serve): one wait of the netpoller for the connection's whole
// keep-alive life, so that after each response the goroutine waits for
// the next request without first trying a read that finds nothing (the
// netpoller forgets readiness when a wait starts; within one it keeps
// it). A request with a body, or one for net/http, leaves the session;
// the next wait starts a new one.
//
// What the general path gets from httputil.ReverseProxy and net/http is
// reproduced here: hop-by-hop fields removed (and those named in
// Connection), X-Forwarded-For/Host/Proto replaced, unparsable query
// parameters dropped, no User-Agent added, the Transport's Content-Length
// rules, a stale pooled connection retried once for replayable requests,
// 1xx responses forwarded, chunked and close-delimited bodies re-chunked
// with trailers, Date and sniffed Content-Type added, 502/503/504 and 499
// as the ErrorHandler maps them, and a client that disconnects while the
// backend is slow cancels the backend request (net/http's background read).

const (
	// fastReadBuffer bounds the request heads the fast path parses;
	// larger ones go to net/http (which allows MaxHeaderBytes).
	fastReadBuffer = 8 << 10
	// slowBackend is how long the backend may take before the client
	// connection is watched for a disconnect.
	slowBackend = 200 * time.Millisecond
	// maxDiscard is the largest unread request body drained to keep a
	// connection open after a local answer, as net/http does.
	maxDiscard = 256 << 10
	// lingerTime is how long a closing connection waits for the client's
	// FIN (net/http's rstAvoidanceDelay).
	lingerTime = 500 * time.Millisecond
	// maxBody is the largest request body the fast path sends. It writes
	// the body before reading the reply; a body this small fits in the
	// socket buffers even if the backend answers without reading it,
	// where a larger one could block both sides. net/http's Transport
	// reads and writes at once and serves larger bodies.
	maxBody = 32 << 10
	// max1xx bounds the informational responses before the final one (the
	// Transport only bounds their size).
	max1xx = 1000
)

type outcome int

const (
	keepAlive outcome = iota
	closeConn
	handOff
)

// fastConn is one client connection on the fast path.
type fastConn struct {
	s        *server
	nc       net.Conn
	c        *h1.Conn
	remote   string
	clientIP string // for X-Forwarded-For; "" when RemoteAddr has no port
	state    atomic.Int32
	served   int

	req       h1.Request
	hr        http.Request
	url       url.URL
	resp      h1.Response
	ex        exchange
	errHeader http.Header
	xf        [3]string // X-Forwarded-For, -Host, -Proto values
	bodyRead  bool      // some of the request body was read

	// On HTTPS binds (fasttls.go): the handshake's state, the scheme
	// ("http" or "https") and the normalized server name, "" without SNI.
	tlsState *tls.ConnectionState
	scheme   string
	sni      string

	// The series of the last request: a connection's requests mostly
	// share them (metricsFor).
	mRule      *ruleHandler
	mRef       *refHandler
	mListener  string
	mCode      int
	mRequests  prometheus.Counter
	mDuration  prometheus.Observer
	mBRequests prometheus.Counter  // nil without a backend
	mBDuration prometheus.Observer // nil without a backend

	// The session (see session).
	stepFn       func() h1.Step
	idle         bool // waiting for a request
	headDeadline bool // ReadHeaderTimeout is set for the head being read
	sRes         h1.Result
	sOut         outcome
	sServed      bool
	sErr         error

	// Watching the client while the backend is slow.
	unwatch    func() // ends the watch
	clientGone atomic.Bool
	// respDeadline is when the backend's response head is due
	// (ResponseHeaderTimeout); zero once it came, or without one.
	respDeadline time.Time
	respTimedOut bool     // the backend missed respDeadline
	backend      *h1.Conn // closed by the watcher when the client goes away
	onSlow       func() bool
}

func newFastConn(s *server, nc net.Conn) *fastConn {
	fc := &fastConn{s: s, nc: nc, c: h1.NewConn(nc, fastReadBuffer), remote: nc.RemoteAddr().String(), scheme: "http"}
	if ip, _, err := net.SplitHostPort(fc.remote); err == nil {
		fc.clientIP = ip
	}
	fc.state.Store(connIdle)
	fc.onSlow = fc.watchClient
	return fc
}

func (fc *fastConn) serve() {
	handed := false
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			fc.s.rt.log.Error("panic serving HTTP/1.1", "bind", fc.s.name, "client", fc.remote, "panic", fmt.Sprint(p))
		}
		if !handed {
			fc.stopWatch()
			fc.c.Close()
			fc.s.fast.untrack(fc)
		}
	}()
	if tc, ok := fc.nc.(*tls.Conn); ok {
		fast, h2 := fc.handshake(tc)
		if h2 {
			handed = fc.handOver()
			return
		}
		if !fast {
			return
		}
	}
	sessions := fc.c.CanServe()
	for {
		var (
			res    h1.Result
			out    outcome
			served bool
			err    error
		)
		if sessions {
			res, out, served, err = fc.session()
		} else {
			res, err = fc.readRequest()
		}
		if err != nil {
			return
		}
		if !served {
			if res == h1.Unsupported {
				handed = fc.handOver()
				return
			}
			out = fc.serveRequest()
		}
		switch out {
		case handOff:
			handed = fc.handOver()
			return
		case closeConn:
			fc.lingerClose()
			return
		}
		if !served {
			fc.served++
		}
	}
}

// session serves requests inside one h1.Conn.Serve, where waiting for the
// next request costs no read attempt. It returns when a request needs the
// ordinary path (res, served false: a body to read, or Unsupported for
// net/http), when one served ends the connection (out, served true), or
// on a read error.
func (fc *fastConn) session() (res h1.Result, out outcome, served bool, err error) {
	fc.sRes, fc.sOut, fc.sServed, fc.sErr = h1.Unsupported, keepAlive, false, nil
	fc.headDeadline = false
	if len(fc.c.Buffered()) == 0 {
		if err := fc.waitIdle(); err != nil {
			return 0, 0, false, err
		}
		fc.idle = true
	}
	if fc.stepFn == nil {
		fc.stepFn = fc.step
	}
	err = fc.c.Serve(fc.stepFn)
	if fc.idle {
		// The wait for a request failed.
		fc.idle = false
		if !fc.state.CompareAndSwap(connIdle, connActive) {
			return 0, 0, false, net.ErrClosed
		}
	}
	switch {
	case errors.Is(err, h1.ErrBufferFull):
		return h1.Unsupported, 0, false, nil
	case err != nil:
		return 0, 0, false, err
	case fc.sErr != nil:
		return 0, 0, false, fc.sErr
	}
	return fc.sRes, fc.sOut, fc.sServed, nil
}

// step is the session's h1.Serve step: parse the buffered bytes, serve
// the requests without a body at once, and ask for more bytes, or leave.
func (fc *fastConn) step() h1.Step {
	if fc.idle {
		fc.idle = false
		if !fc.state.CompareAndSwap(connIdle, connActive) {
			fc.sErr = net.ErrClosed
			return h1.StepDone
		}
	}
	for {
		res, more := fc.parseHead()
		if more {
			return h1.StepRead
		}
		if res != h1.Parsed || fc.req.ContentLength != 0 {
			// Bodies are read the ordinary way, outside the session.
			fc.sRes = res
			return h1.StepDone
		}
		if out := fc.serveRequest(); out != keepAlive {
			fc.sOut, fc.sServed = out, true
			return h1.StepDone
		}
		fc.served++
		fc.headDeadline = false
		if len(fc.c.Buffered()) > 0 {
			continue // a pipelined request
		}
		if err := fc.waitIdle(); err != nil {
			fc.sErr = err
			return h1.StepDone
		}
		fc.idle = true
		return h1.StepRead
	}
}

// lingerClose prepares to close the connection as net/http does: the
// last response, a FIN, then up to half a second reading (and dropping)
// what the client still sends, so that closing does not send an RST that
// makes the client discard the response before reading it.
func (fc *fastConn) lingerClose() {
	if err := fc.c.Flush(); err != nil {
		return
	}
	cw, ok := fc.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	fc.c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, fc.c, maxDiscard) //nolint:errcheck // lingering only keeps the close from resetting what the client has not read yet
}

// readRequest flushes the previous response and reads the next request
// head, with net/http's timeouts: ReadHeaderTimeout for a new connection,
// IdleTimeout between requests, ReadHeaderTimeout again once a head has
// started.
func (fc *fastConn) readRequest() (h1.Result, error) {
	c := fc.c
	if len(c.Buffered()) == 0 {
		if err := fc.waitIdle(); err != nil {
			return 0, err
		}
		err := c.Fill()
		if !fc.state.CompareAndSwap(connIdle, connActive) {
			return 0, net.ErrClosed
		}
		if err != nil {
			return 0, err
		}
	}
	fc.headDeadline = false
	for {
		res, more := fc.parseHead()
		if !more {
			return res, nil
		}
		if err := c.Fill(); err != nil {
			if errors.Is(err, h1.ErrBufferFull) {
				return h1.Unsupported, nil
			}
			return 0, err
		}
	}
}

// waitIdle prepares to wait for the next request: the previous response
// written, the buffers back in their pools, the connection idle (so that
// shutdown may close it) with ReadHeaderTimeout before a first request
// and IdleTimeout after one.
func (fc *fastConn) waitIdle() error {
	c, fe := fc.c, &fc.s.fe
	if err := c.Flush(); err != nil {
		return err
	}
	c.Release()
	if fc.served > 0 && !fc.state.CompareAndSwap(connActive, connIdle) {
		return net.ErrClosed
	}
	if fc.s.fast.draining.Load() {
		return net.ErrClosed
	}
	if fc.served == 0 {
		c.SetReadDeadline(time.Now().Add(fe.readHeaderTimeout))
	} else {
		// Close to IdleTimeout, without a timer update per request.
		c.ExtendReadDeadline(time.Now(), fe.idleTimeout, min(time.Second, fe.idleTimeout/8))
	}
	return nil
}

// parseHead parses the buffered bytes as a request head. more reports an
// incomplete head that may still fit: the caller reads more, within
// ReadHeaderTimeout from the first call for this head. A head larger
// than the buffer or MaxHeaderBytes is Unsupported (net/http answers it).
func (fc *fastConn) parseHead() (res h1.Result, more bool) {
	c, fe := fc.c, &fc.s.fe
	limit := min(c.BufferSize(), fe.maxHeaderBytes)
	res = h1.ParseRequest(c.Buffered(), &fc.req)
	switch {
	case res == h1.Parsed && fc.req.Len > limit:
		return h1.Unsupported, false
	case res != h1.Incomplete:
		return res, false
	case len(c.Buffered()) >= limit:
		return h1.Unsupported, false
	}
	if !fc.headDeadline {
		c.SetReadDeadline(time.Now().Add(fe.readHeaderTimeout))
		fc.headDeadline = true
	}
	return res, true
}

// httpRequest fills the connection's reused http.Request from the parsed
// head, for the router and filters.
func (fc *fastConn) httpRequest() (*http.Request, bool) {
	req := &fc.req
	u := &fc.url
	*u = url.URL{}
	path, query, hasQuery := strings.Cut(req.Target, "?")
	if plainPath(path) && !(hasQuery && query == "") {
		// What url.ParseRequestURI returns for such a target.
		u.Path, u.RawQuery = path, query
	} else {
		pu, err := url.ParseRequestURI(req.Target)
		if err != nil {
			return nil, false
		}
		*u = *pu
	}
	r := &fc.hr
	*r = http.Request{
		Method:        req.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        req.Header,
		Body:          http.NoBody,
		ContentLength: req.ContentLength,
		Close:         req.Close,
		Host:          req.Host,
		RemoteAddr:    fc.remote,
		RequestURI:    req.Target,
		TLS:           fc.tlsState,
	}
	return r, true
}

// plainPath reports whether p has only bytes that URL path escaping
// leaves alone, so that url.ParseRequestURI would set Path to p and
// RawPath to "".
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
			continue
		}
		return false
	}
	return true
}

// fastEligible reports whether the fast path serves a rule exactly as the
// general path does: no policy, mirror, CORS, redirect, direct response,
// timeout or retry, and only plain HTTP/1.1 backends.
func fastEligible(rule *ruleHandler) bool {
	if rule.traffic != nil || len(rule.mirrors) > 0 || rule.cors != nil || rule.redirect != nil || rule.direct != nil || rule.timeout > 0 {
		return false
	}
	for _, ref := range rule.refs {
		if ref.backend == nil {
			continue // answered with a 500 either way
		}
		if !ref.backend.FastH1() || ref.mcp != nil {
			return false
		}
		if _, ok := ref.proxy.Transport.(*upstream.Backend); !ok {
			return false // a retrier: retries or per-try timeouts
		}
	}
	return true
}

// serveRequest routes and serves one parsed request.
func (fc *fastConn) serveRequest() outcome {
	s := fc.s
	start := time.Now()
	if fc.req.ContentLength > maxBody {
		return handOff
	}
	r, ok := fc.httpRequest()
	if !ok {
		return handOff
	}
	sanitize(r)
	// The access log shows the request as received (after sanitizing).
	inHost, inPath := r.Host, r.URL.Path
	bs := s.state.Load()
	if bs.altSvc != "" {
		return handOff // HTTP/3 is only on HTTPS binds; not expected here
	}
	host := router.NormalizeHost(r.Host)
	ex := &fc.ex
	*ex = exchange{}
	ex.log.start = start
	fc.bodyRead = false
	listenerName, routeKey := "", ""
	var al *accessLog
	var code int
	var out outcome
	if ls, found := bs.listenerFor(host); !found {
		if fc.sni != "" {
			return handOff // 421, as below
		}
		ex.log.reason = "no_listener"
		code, out = fc.localError(ex, r, http.StatusNotFound, "no listener for host")
	} else {
		listenerName, al = ls.config.Name, ls.accessLog
		if fc.sni != "" {
			if sl, _ := bs.listenerFor(fc.sni); sl != ls {
				// A host of another listener than the server name's:
				// net/http's handler answers 421.
				return handOff
			}
		}
		if ls.preRouting != nil || ls.tracing != nil {
			// Pre-routing filters and tracing are run by net/http's handler.
			return handOff
		}
		m, found := ls.table.Route(r, host)
		if !found {
			ex.log.reason = "no_route"
			code, out = fc.localError(ex, r, http.StatusNotFound, "no route")
		} else {
			if !fastEligible(m.Value) {
				return handOff
			}
			ex.rule = m.Value
			ex.prefix = m.Prefix
			routeKey = m.Value.routeKey
			code, out = fc.proxy(r, ex)
		}
	}
	elapsed := time.Since(start)
	fc.metricsFor(ex.rule, ex.ref, listenerName, code)
	secs := elapsed.Seconds()
	fc.mRequests.Inc()
	fc.mDuration.Observe(secs)
	if fc.mBRequests != nil {
		fc.mBRequests.Inc()
		fc.mBDuration.Observe(secs)
	}
	if al != nil || s.rt.opts.AccessLog {
		fc.logRequest(al, r, ex, listenerName, routeKey, inHost, inPath, code, elapsed)
	}
	*ex = exchange{}
	fc.hr = http.Request{}
	if out == keepAlive && (fc.req.Close || s.fast.draining.Load()) {
		out = closeConn
	}
	return out
}

// metricsFor points the connection's series (mRequests, mDuration, and
// mBRequests, mBDuration when the request went to a backend) at those of
// a request's labels; the runtime never deletes these series, so holding
// them is safe across reloads.
func (fc *fastConn) metricsFor(rule *ruleHandler, ref *refHandler, listener string, code int) {
	if fc.mRequests != nil && fc.mRule == rule && fc.mRef == ref && fc.mListener == listener && fc.mCode == code {
		return
	}
	m := fc.s.rt.metrics
	fc.mRule, fc.mRef, fc.mListener, fc.mCode = rule, ref, listener, code
	fc.mBRequests, fc.mBDuration = nil, nil
	if rule == nil {
		fc.mRequests = m.Requests.WithLabelValues(fc.s.name, listener, "", strconv.Itoa(code))
		fc.mDuration = m.Duration.WithLabelValues(fc.s.name, listener, "")
		return
	}
	rs := m.routeSeries(rule, fc.s.name, listener)
	fc.mRequests, fc.mDuration = rs.requests.get(code), rs.duration
	if ref != nil && ref.series != nil {
		fc.mBRequests, fc.mBDuration = ref.series.requests.get(code), ref.series.duration
	}
}

// closing reports whether the response must say "Connection: close".
func (fc *fastConn) closing() bool {
	return fc.req.Close || fc.s.fast.draining.Load()
}

// localError answers as localError does through http.Error, response
// filters included, after consuming the request.
func (fc *fastConn) localError(ex *exchange, r *http.Request, code int, msg string) (int, outcome) {
	fc.c.Discard(fc.req.Len)
	out := fc.discardBody()
	fc.writeError(ex, r.Method, code, msg, out == closeConn)
	return code, out
}

// discardBody drains a request body nobody reads, as net/http does for
// bodies up to 256 KiB; a larger one closes the connection.
func (fc *fastConn) discardBody() outcome {
	n := fc.req.ContentLength
	if n == 0 {
		return keepAlive
	}
	if n > maxDiscard {
		fc.req.Close = true
		return closeConn
	}
	fc.c.SetReadDeadline(time.Time{})
	if _, err := io.CopyN(io.Discard, fc.c, n); err != nil {
		fc.req.Close = true
		return closeConn
	}
	return keepAlive
}

func (fc *fastConn) writeError(ex *exchange, method string, code int, msg string, closing bool) {
	h := fc.errHeader
	if h == nil {
		h = http.Header{}
		fc.errHeader = h
	}
	clear(h)
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	ex.beforeHeader(h, code)
	body := msg + "\n"
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	framing := h1.Length
	if method == http.MethodHead {
		// net/http sends the length the handler wrote, not the body.
		framing = h1.NoBody
	} else {
		ex.log.bytesOut = int64(len(body))
	}
	ex.log.header, ex.log.ttfb = h, time.Since(ex.log.start)
	fc.c.AppendResponseHead(&h1.ResponseHead{Status: code, Header: h, Framing: framing, Close: closing || fc.closing()})
	if framing == h1.Length {
		out := fc.c.Out()
		*out = append(*out, body...)
	}
}
