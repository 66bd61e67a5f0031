package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/h1"
)

// RoundTrip sends plain HTTP/1.1 requests over the fast path's pooled
// connections (see roundTripH1) instead of the http.Transport, whose
// persistConn hands every request to a writer goroutine and every
// response from a reader goroutine. What it does not cover as the
// Transport would goes to the Transport.

const (
	// maxH1Body is the largest request body roundTripH1 sends: it writes
	// the body before reading the reply, and a small body fits in the
	// socket buffers even if the backend answers without reading it.
	maxH1Body = 32 << 10
	// defaultUserAgent is what the Transport sends without a User-Agent.
	defaultUserAgent = "Go-http-client/1.1"
)

// DisableH1Client makes RoundTrip use the http.Transport for every
// request; tests compare the two.
var DisableH1Client atomic.Bool

// plainH1 reports whether roundTripH1 sends req exactly as the Transport
// would: no upgrade, no Expect, a known small body, valid fields.
func (b *Backend) plainH1(req *http.Request) bool {
	if !b.plainProto() || DisableH1Client.Load() || req.Close || req.Method == http.MethodConnect ||
		len(req.TransferEncoding) > 0 || req.Trailer != nil || req.URL.Scheme != "http" {
		return false
	}
	if req.Body == nil || req.Body == http.NoBody {
		if req.ContentLength != 0 {
			return false // the Transport's error
		}
	} else if req.ContentLength <= 0 || req.ContentLength > maxH1Body {
		return false
	}
	h := req.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	// The Transport refuses invalid fields with an error; leave those to
	// it.
	for k, vs := range h {
		if !validToken(k) {
			return false
		}
		for _, v := range vs {
			if !validValue(v) {
				return false
			}
		}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	return validValue(host) && isASCII(host) && !strings.ContainsAny(req.URL.Path+req.URL.RawPath+req.URL.RawQuery+req.URL.Opaque, "\x00\r\n")
}

// roundTripH1 is RoundTrip on a pooled HTTP/1.1 connection: the request
// is written and the response head read on the caller's goroutine; the
// body reads from the connection, which goes back to the pool at EOF. A
// request the backend resets before any response byte is sent again as
// ReplayH1 decides.
func (b *Backend) roundTripH1(req *http.Request, p *Picked) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	prefer := ""
	if p != nil {
		prefer = p.Prefer
	}
	replay := replayableH1(req)
	uc, ep, err := b.AcquireH1(ctx, prefer, !replay)
	if ep != nil && p != nil {
		p.Endpoint = ep
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	req.URL.Host = ep.Address
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		body, err = readBody(req)
		if err != nil {
			b.ReleaseH1(uc, true)
			return nil, err
		}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	ua := ""
	if _, ok := req.Header["User-Agent"]; !ok {
		ua = defaultUserAgent
	}
	uri := req.URL.RequestURI()
	// The body is at hand to send again, so an idempotent request with
	// a body may be replayed too.
	idempotent := IdempotentMethod(req.Method, req.Header)
	safe := len(body) == 0 || idempotent
	rp := Replay{NotIdempotent: !idempotent}
	for {
		uc.ClearReadDeadline()
		uc.AppendRequestHead(req.Method, uri, host, req.Header, int64(len(body)), ua)
		out := uc.Out()
		*out = append(*out, body...)
		// A canceled request closes the connection under the reads.
		stop := context.AfterFunc(ctx, func() { uc.NetConn().SetDeadline(time.Unix(1, 0)) })
		resp, err := b.readH1(ctx, req, uc)
		if err == nil {
			b.observe(uc.Endpoint, resp.StatusCode)
			resp.Body = b.h1Body(ctx, resp, uc, stop)
			return resp, nil
		}
		stop()
		b.ReleaseH1(uc, false)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var stale staleError
		if !safe || !errors.As(err, &stale) {
			return nil, err
		}
		if uc, err = b.ReplayH1(ctx, &rp, uc, err); err != nil {
			return nil, err
		}
		if p != nil {
			p.Endpoint = uc.Endpoint
		}
		req.URL.Host = uc.Endpoint.Address
	}
}

// staleError: the connection failed before any response byte, as a
// connection the backend closed while it was idle does.
type staleError struct{ error }

func (e staleError) Unwrap() error { return e.error }

// readH1 sends the request and reads the response head, passing 1xx
// responses to the request's httptrace.ClientTrace as the Transport does.
func (b *Backend) readH1(ctx context.Context, req *http.Request, uc *H1Conn) (*http.Response, error) {
	if err := uc.FlushAndFill(); err != nil {
		return nil, staleError{err}
	}
	trace := httptrace.ContextClientTrace(ctx)
	var r h1.Response
	for {
		if err := uc.ReadResponseHead(req.Method, &r); err != nil {
			return nil, err
		}
		uc.Discard(r.Len)
		if r.Status == http.StatusSwitchingProtocols {
			return nil, errors.New("backend switched protocols without being asked to")
		}
		if r.Status >= 200 {
			break
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(r.Status, textproto.MIMEHeader(r.Header)); err != nil {
				return nil, err
			}
		}
		r.Header = nil // the callback may keep the map
	}
	resp := &http.Response{
		Status:        strconv.Itoa(r.Status) + " " + r.Reason,
		StatusCode:    r.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.Header,
		ContentLength: r.ContentLength,
		Close:         !r.KeepAlive,
		Request:       req,
	}
	if r.Reason == "" {
		resp.Status = strconv.Itoa(r.Status)
	}
	if r.HTTP10 {
		resp.Proto, resp.ProtoMinor = "HTTP/1.0", 0
	}
	delete(resp.Header, "Transfer-Encoding")
	switch {
	case r.Chunked:
		resp.TransferEncoding = []string{"chunked"}
		trailer, err := declaredTrailer(resp.Header)
		if err != nil {
			return nil, err
		}
		resp.Trailer = trailer
	case r.NoBody && req.Method != http.MethodHead:
		resp.ContentLength = 0
	}
	bodyReader := h1.NewBodyReader(uc.Conn, &r)
	bodyReader.Trailer = resp.Trailer
	resp.Body = &h1Body{r: bodyReader, keepAlive: r.KeepAlive}
	return resp, nil
}

// declaredTrailer moves the Trailer field into a map of the announced
// names, as the Transport does for chunked responses.
func declaredTrailer(h http.Header) (http.Header, error) {
	vv, ok := h["Trailer"]
	if !ok {
		return nil, nil
	}
	delete(h, "Trailer")
	trailer := http.Header{}
	for _, v := range vv {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k == "" {
				continue
			}
			k = http.CanonicalHeaderKey(k)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, fmt.Errorf("%w: bad trailer key %q", h1.ErrMalformed, k)
			}
			trailer[k] = nil
		}
	}
	if len(trailer) == 0 {
		return nil, nil
	}
	return trailer, nil
}

// h1Body is the body of a response read by roundTripH1. Reading it to the
// end returns the connection to the pool, closing it early closes the
// connection, and closing it ends the request's in-flight count (as the
// Transport's body does for RoundTrip). It is read and closed from one
// goroutine.
type h1Body struct {
	r         *h1.BodyReader
	keepAlive bool
	ctx       context.Context
	b         *Backend
	uc        *H1Conn
	ep        *Endpoint // uc's, kept: once recycled uc is another request's
	stop      func() bool
	recycled  bool
	closed    bool
}

func (b *Backend) h1Body(ctx context.Context, resp *http.Response, uc *H1Conn, stop func() bool) io.ReadCloser {
	body := resp.Body.(*h1Body)
	body.ctx, body.b, body.uc, body.ep, body.stop = ctx, b, uc, uc.Endpoint, stop
	if body.r.Done() {
		body.recycle()
	}
	return body
}

func (body *h1Body) Read(p []byte) (int, error) {
	if body.closed {
		return 0, errors.New("http: read on closed response body")
	}
	n, err := body.r.Read(p)
	if err == io.EOF {
		body.recycle()
	} else if err != nil {
		if ctxErr := body.ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
	}
	return n, err
}

func (body *h1Body) Close() error {
	if body.closed {
		return nil
	}
	body.closed = true
	body.recycle()
	body.b.endH1(body.ep)
	return nil
}

// recycle gives the connection back once the body is done with it.
func (body *h1Body) recycle() {
	if body.recycled {
		return
	}
	body.recycled = true
	canceled := !body.stop()
	body.b.recycleH1(body.uc, body.keepAlive && body.r.Done() && !canceled)
}

func replayableH1(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// readBody reads a request body of known, small length, as the Transport
// would send it; a body of another length is an error, as there.
func readBody(req *http.Request) ([]byte, error) {
	defer req.Body.Close()
	buf := make([]byte, req.ContentLength+1)
	n, err := io.ReadFull(req.Body, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		if int64(n) != req.ContentLength {
			return nil, fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n)
		}
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("http: ContentLength=%d with a longer Body", req.ContentLength)
	}
	return buf[:n], nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
