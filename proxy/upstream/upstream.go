// Package upstream owns the connections to backends: one tuned
// http.Transport per backend and, for plain HTTP/1.1 backends, a pool of
// h1 connections (h1pool.go) that the runtime's fast path uses directly
// and RoundTrip uses for ordinary requests (h1client.go), all kept across
// config reloads while the backend is unchanged so connections stay warm
// (the h1 pools of the endpoints a changed backend keeps too, see
// shareConns);
// endpoint selection by power-of-two-choices on in-flight requests among
// the endpoints that are healthy (active health checks, health.go), not
// ejected (outlier detection) and not terminating; circuit breakers; and
// sending a request to another endpoint when connecting to one fails
// (resilience.go) or when one resets it before any response byte
// (replay.go).
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
)

// ErrNoEndpoints is returned when a backend has no endpoint to send to.
var ErrNoEndpoints = errors.New("backend has no endpoints")

const (
	defaultConnectTimeout = 10 * time.Second
	// Retry budget: retries in flight may reach retryBudgetPercent of the
	// requests in flight, and at least minRetryConcurrency, so a failing
	// backend is not hit by a retry storm.
	retryBudgetPercent  = 20
	minRetryConcurrency = 3
)

// Endpoint is one backend address with its load counters.
type Endpoint struct {
	Address string
	weight  int
	// inflight counts requests sent and not yet finished (body closed); it
	// drives power-of-two-choices.
	inflight atomic.Int64
	// ejectedUntil is a unix-nano deadline; 0 means not ejected.
	ejectedUntil atomic.Int64
	// ejections counts recent ejections: the ejection time grows with it.
	ejections atomic.Int32
	// Consecutive failures: 5xx, gateway errors (502, 503, 504), connect
	// errors.
	fails5xx, failsGW, failsLocal atomic.Int32
	// unhealthy is set by active health checks.
	unhealthy atomic.Bool
	// terminating endpoints get requests only when all are terminating.
	terminating bool
	// h1 holds idle connections of the runtime's HTTP/1.1 fast path; a
	// backend rebuilt with the same connection settings shares it (see
	// shareConns).
	h1 *h1Pool
}

// InFlight reports the current number of outstanding requests.
func (e *Endpoint) InFlight() int64 { return e.inflight.Load() }

func (e *Endpoint) ejected(now int64) bool { return e.ejectedUntil.Load() > now }

// Backend is a compiled config.Backend. It is safe for concurrent use and
// implements http.RoundTripper: each RoundTrip picks an endpoint.
type Backend struct {
	Name      string
	Protocol  config.BackendProtocol
	TLS       bool
	endpoints []*Endpoint
	cumWeight []int // prefix sums of endpoint weights for weighted picks
	uniform   bool
	byAddr    map[string]*Endpoint
	transport *http.Transport
	dialer    *net.Dialer
	spec      string // canonical JSON of the config, to detect changes

	active   atomic.Int64 // requests in flight, all endpoints
	retrying atomic.Int64 // retries in flight

	res resilience
	// overflows holds the agentgateway_upstream_overflow_total counter
	// of each circuit breaker limit (limitIndex), resolved on the first
	// refusal and kept: a refusal then costs no label lookup, and a
	// backend that never refuses exports no series.
	overflows [4]atomic.Pointer[prometheus.Counter]
	// Circuit breakers: requests admitted, connections open, requests
	// waiting for a connection.
	admitted, conns, pending atomic.Int64
	freeMu                   sync.Mutex
	freed                    chan struct{}
	// health is set by Pool.Commit when the backend has health checks.
	health *healthChecker
}

// StartRetry reserves a retry from the budget; it returns false when the
// budget is spent and the caller should return the failure instead. Call
// EndRetry when a reserved retry finishes.
func (b *Backend) StartRetry() bool {
	if m := b.res.maxRetries; m > 0 && b.retrying.Load() >= m {
		b.overflowCounter(limitRetries).Inc()
		return false
	}
	limit := max(int64(minRetryConcurrency), b.active.Load()*retryBudgetPercent/100)
	if b.retrying.Add(1) > limit {
		b.retrying.Add(-1)
		return false
	}
	return true
}

// EndRetry returns a retry reserved with StartRetry.
func (b *Backend) EndRetry() { b.retrying.Add(-1) }

// Endpoints returns the backend's endpoints.
func (b *Backend) Endpoints() []*Endpoint { return b.endpoints }

// Scheme is the URL scheme requests to this backend use.
func (b *Backend) Scheme() string {
	if b.TLS {
		return "https"
	}
	return "http"
}

// ClientTLS returns a copy of the TLS client configuration of a backend
// with TLS, for clients other than its own transport (gRPC ext auth); nil
// without TLS.
func (b *Backend) ClientTLS() *tls.Config { return b.transport.TLSClientConfig.Clone() }

// Dial opens a raw connection to a picked endpoint, for L4 forwarding.
func (b *Backend) Dial(ctx context.Context, network string) (net.Conn, *Endpoint, error) {
	ep := b.Pick("")
	if ep == nil {
		return nil, nil, fmt.Errorf("backend %s: %w", b.Name, ErrNoEndpoints)
	}
	c, err := b.dialTo(ctx, network, ep.Address, nil)
	if err != nil {
		if dialFailed(err) {
			b.localFailure(ep)
		}
		return nil, ep, err
	}
	return c, ep, nil
}

func newBackend(c *config.Backend, spec string) (*Backend, error) {
	b := &Backend{Name: c.Name, Protocol: c.Protocol, TLS: c.TLS != nil, spec: spec, byAddr: map[string]*Endpoint{}, res: compileResilience(c.Resilience)}
	if b.Protocol == "" {
		b.Protocol = config.BackendHTTP1
	}
	total := 0
	b.uniform = true
	for _, e := range c.Endpoints {
		w := e.Weight
		if w <= 0 {
			w = 1
		}
		if len(b.endpoints) > 0 && w != b.endpoints[0].weight {
			b.uniform = false
		}
		ep := &Endpoint{Address: e.Address, weight: w, terminating: e.Terminating, h1: &h1Pool{}}
		total += w
		b.endpoints = append(b.endpoints, ep)
		b.cumWeight = append(b.cumWeight, total)
		b.byAddr[e.Address] = ep
	}
	timeout := defaultConnectTimeout
	if c.ConnectTimeout != nil {
		timeout = c.ConnectTimeout.Duration
	}
	b.dialer = &net.Dialer{Timeout: timeout, KeepAliveConfig: keepalive(c.Resilience)}
	var tlsConf *tls.Config
	if c.TLS != nil {
		var err error
		tlsConf, err = clientTLS(c)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", c.Name, err)
		}
	}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.dialTo(ctx, network, addr, nil)
		},
		TLSClientConfig: tlsConf,
		// The Go default of 2 idle connections per host throttles a proxy
		// to a handful of reusable connections; under load that means a
		// new TCP (and TLS) handshake for most requests.
		MaxIdleConns:          0, // no global cap; per-host cap below
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ExpectContinueTimeout: time.Second,
		// Compression is the client's business: a proxy must pass
		// Accept-Encoding through, not add its own.
		DisableCompression: true,
		WriteBufferSize:    32 << 10,
		ReadBufferSize:     32 << 10,
		Protocols:          new(http.Protocols),
	}
	switch b.Protocol {
	case config.BackendH2C:
		t.Protocols.SetUnencryptedHTTP2(true)
	case config.BackendH2:
		t.Protocols.SetHTTP2(true)
	default:
		t.Protocols.SetHTTP1(true)
	}
	t.HTTP2 = &http.HTTP2Config{
		// Let a single h2 connection carry many streams, but open more
		// connections when a backend advertises a low stream limit.
		StrictMaxConcurrentRequests: false,
	}
	b.transport = t
	return b, nil
}

func clientTLS(c *config.Backend) (*tls.Config, error) {
	t := c.TLS
	conf := &tls.Config{
		ServerName:         t.SNI,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in testing knob, documented in the config.
		MinVersion:         tls.VersionTLS12,
		NextProtos:         t.ALPN,
	}
	if t.CACertificates != "" {
		pool, err := config.ParseCAs(t.CACertificates)
		if err != nil {
			return nil, fmt.Errorf("tls.caCertificates: %w", err)
		}
		conf.RootCAs = pool
	}
	if t.ClientCertificate != nil {
		pair, err := tls.X509KeyPair([]byte(t.ClientCertificate.CertChain), []byte(t.ClientCertificate.PrivateKey))
		if err != nil {
			return nil, fmt.Errorf("tls.clientCertificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	if len(t.SubjectAltNames) > 0 && !t.InsecureSkipVerify {
		// SAN verification replaces hostname verification (the Gateway
		// API BackendTLSPolicy semantics), so the chain is verified by
		// hand against the roots and then the SANs are compared.
		roots := conf.RootCAs
		sans := append([]string(nil), t.SubjectAltNames...)
		conf.InsecureSkipVerify = true //nolint:gosec // verification happens in VerifyConnection.
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifySANs(cs, roots, sans)
		}
	}
	return conf, nil
}

func verifySANs(cs tls.ConnectionState, roots *x509.CertPool, sans []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("backend presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return fmt.Errorf("backend certificate: %w", err)
	}
	for _, want := range sans {
		for _, d := range leaf.DNSNames {
			if d == want {
				return nil
			}
		}
		for _, u := range leaf.URIs {
			if u.String() == want {
				return nil
			}
		}
		for _, ip := range leaf.IPAddresses {
			if ip.String() == want {
				return nil
			}
		}
	}
	return fmt.Errorf("backend certificate has none of the expected subject alt names %v", sans)
}

// Pick chooses an endpoint: the endpoint at address prefer if it is
// healthy, not ejected and not terminating (session persistence),
// otherwise the less loaded of two weighted-random choices among such
// endpoints. When there are none, the best of the others is used (see
// Endpoint.rank): better to try than to fail outright. It returns nil when
// there are no endpoints.
func (b *Backend) Pick(prefer string) *Endpoint { return b.pick(prefer, nil) }

// excluded ranks an endpoint already tried.
const excluded = 1 << 10

func rankOf(e *Endpoint, now int64, tried []*Endpoint) int {
	for _, t := range tried {
		if t == e {
			return excluded
		}
	}
	return e.rank(now)
}

// pick is Pick avoiding the endpoints tried; nil when all were tried.
func (b *Backend) pick(prefer string, tried []*Endpoint) *Endpoint {
	n := len(b.endpoints)
	if n == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if prefer != "" {
		if ep := b.byAddr[prefer]; ep != nil && rankOf(ep, now, tried) == 0 {
			return ep
		}
	}
	if n == 1 {
		if len(tried) > 0 {
			return nil
		}
		return b.endpoints[0]
	}
	a, c := b.random(), b.random()
	if a == c {
		c = b.endpoints[(b.index(c)+1)%n]
	}
	ra, rc := rankOf(a, now, tried), rankOf(c, now, tried)
	switch {
	case ra != 0 && rc != 0:
		return b.best(now, tried)
	case ra < rc:
		return a
	case rc < ra:
		return c
	}
	if c.inflight.Load() < a.inflight.Load() {
		return c
	}
	return a
}

// best is the first endpoint of the lowest rank from a random start; nil
// when all were tried.
func (b *Backend) best(now int64, tried []*Endpoint) *Endpoint {
	n := len(b.endpoints)
	start := rand.IntN(n)
	var out *Endpoint
	top := excluded
	for i := range n {
		e := b.endpoints[(start+i)%n]
		if r := rankOf(e, now, tried); r < top {
			out, top = e, r
			if r == 0 {
				break
			}
		}
	}
	return out
}

func (b *Backend) index(e *Endpoint) int {
	for i, x := range b.endpoints {
		if x == e {
			return i
		}
	}
	return 0
}

func (b *Backend) random() *Endpoint {
	if b.uniform {
		return b.endpoints[rand.IntN(len(b.endpoints))]
	}
	r := rand.IntN(b.cumWeight[len(b.cumWeight)-1])
	lo, hi := 0, len(b.cumWeight)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if b.cumWeight[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return b.endpoints[lo]
}

type pickKey struct{}

// Picked records which endpoint served a request; see WithPick.
type Picked struct {
	// Prefer is the endpoint address to use if possible (session
	// persistence), set by the caller.
	Prefer string
	// Endpoint is set by RoundTrip to the endpoint used last.
	Endpoint *Endpoint
}

// WithPick attaches p to ctx so RoundTrip honours p.Prefer and reports the
// endpoint it used.
func WithPick(ctx context.Context, p *Picked) context.Context {
	return context.WithValue(ctx, pickKey{}, p)
}

// RoundTrip sends req to a picked endpoint. req.URL.Host is replaced by the
// endpoint address; the Host header (req.Host) is left alone. When
// connecting to the endpoint fails, or it resets a request that is safe to
// replay before any response byte, the request goes to another one (up to
// the backend's connect retries). A request over a circuit breaker limit
// is answered 503 with OverflowHeader, without an endpoint. A traced
// request (tracing.FromContext) gets a client span and its traceparent
// (tracing.go).
func (b *Backend) RoundTrip(req *http.Request) (*http.Response, error) {
	if sp := tracing.FromContext(req.Context()); sp != nil {
		return b.tracedRoundTrip(req, sp)
	}
	return b.send(req)
}

func (b *Backend) send(req *http.Request) (*http.Response, error) {
	p, _ := req.Context().Value(pickKey{}).(*Picked)
	m := b.res.maxRequests
	if m > 0 && b.admitted.Add(1) > m {
		b.admitted.Add(-1)
		return b.overflow(req, limitRequests), nil
	}
	resp, err := b.roundTrip(req, p)
	if m <= 0 {
		if oe := (*overflowError)(nil); errors.As(err, &oe) {
			return b.overflow(req, oe.limit), nil
		}
		return resp, err
	}
	if err != nil {
		b.admitted.Add(-1)
		if oe := (*overflowError)(nil); errors.As(err, &oe) {
			return b.overflow(req, oe.limit), nil
		}
		return nil, err
	}
	resp.Body = &admittedBody{ReadCloser: resp.Body, b: b}
	return resp, nil
}

func (b *Backend) roundTrip(req *http.Request, p *Picked) (*http.Response, error) {
	if b.plainH1(req) {
		return b.roundTripH1(req, p)
	}
	prefer := ""
	if p != nil {
		prefer = p.Prefer
	}
	body := req.Body
	var tried []*Endpoint
	var rs *replayState
	if b.mayRetryConnect(0) {
		req, rs = replayTrace(req)
	}
	for {
		ep := b.pick(prefer, tried)
		if ep == nil {
			closeBody(req)
			return nil, fmt.Errorf("backend %s: %w", b.Name, ErrNoEndpoints)
		}
		if p != nil {
			p.Endpoint = ep
		}
		var rw *rewindBody
		req.Body = body
		if b.mayRetryConnect(len(tried)) && body != nil && body != http.NoBody {
			rw = &rewindBody{ReadCloser: body}
			req.Body = rw
		}
		req.URL.Scheme = b.Scheme()
		req.URL.Host = ep.Address
		ep.inflight.Add(1)
		b.active.Add(1)
		resp, err := b.transport.RoundTrip(req)
		if err == nil {
			b.observe(ep, resp.StatusCode)
			resp.Body = &doneBody{ReadCloser: resp.Body, ep: ep, b: b}
			return resp, nil
		}
		ep.inflight.Add(-1)
		b.active.Add(-1)
		if dialFailed(err) {
			b.localFailure(ep)
		}
		hasBody := body != nil && body != http.NoBody
		if hasBody && (rw == nil || rw.read.Load()) || !b.retryConnect(req.Context(), err, ep, &tried) && !b.replay(req.Context(), err, rs, ep, &tried) {
			if rw != nil {
				rw.detached.Store(true)
				body.Close()
			}
			return nil, err
		}
		if rw != nil {
			rw.detached.Store(true)
		}
	}
}

// mayRetryConnect reports whether a request that tried n endpoints may
// try another when connecting fails.
func (b *Backend) mayRetryConnect(n int) bool {
	return n < b.res.connectRetries && n+1 < len(b.endpoints)
}

// retryConnect decides whether a request goes to another endpoint after
// err on ep: only a failure to connect (nothing sent), within the connect
// retries. It records ep as tried.
func (b *Backend) retryConnect(ctx context.Context, err error, ep *Endpoint, tried *[]*Endpoint) bool {
	if !dialFailed(err) || ctx.Err() != nil || !b.mayRetryConnect(len(*tried)) {
		return false
	}
	*tried = append(*tried, ep)
	connectRetriesTotal.WithLabelValues(b.Name).Inc()
	return true
}

// replay decides whether a request whose body was not read goes to
// another endpoint after err on ep, when err is a reset, EOF or broken
// pipe before any response byte (see replayReason), within the connect
// retries. It records ep as tried and, unless the connection was a pooled
// one (see ReplayH1), counts a local-origin failure.
func (b *Backend) replay(ctx context.Context, err error, rs *replayState, ep *Endpoint, tried *[]*Endpoint) bool {
	reason := replayReason(err)
	if reason == "" || rs == nil || rs.gotByte.Load() || ctx.Err() != nil || !b.mayRetryConnect(len(*tried)) {
		return false
	}
	if !rs.reused.Load() {
		if rs.notIdempotent {
			return false // the backend may have acted on it (see Replay)
		}
		b.localFailure(ep)
	}
	*tried = append(*tried, ep)
	replaysTotal.WithLabelValues(b.Name, reason).Inc()
	return true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// doneBody decrements the endpoint's in-flight count once the response has
// been consumed. It keeps io.Writer when the body has it, because
// ReverseProxy needs a writable body for protocol upgrades (WebSocket).
type doneBody struct {
	io.ReadCloser
	ep   *Endpoint
	b    *Backend
	once sync.Once
}

func (d *doneBody) Close() error {
	d.once.Do(func() {
		d.ep.inflight.Add(-1)
		d.b.active.Add(-1)
	})
	return d.ReadCloser.Close()
}

func (d *doneBody) Write(p []byte) (int, error) {
	if w, ok := d.ReadCloser.(io.Writer); ok {
		return w.Write(p)
	}
	return 0, errors.New("response body is not writable")
}

// CloseIdle closes idle pooled connections.
func (b *Backend) CloseIdle() {
	b.transport.CloseIdleConnections()
	for _, ep := range b.endpoints {
		ep.h1.closeIdle(false)
	}
}

// retire closes idle connections for good: a backend replaced by a new
// config closes the fast-path connections its last requests release,
// except in the pools it shares with keep (its replacement, or the live
// backend of a discarded one; may be nil).
func (b *Backend) retire(keep *Backend) {
	b.stopHealth()
	b.transport.CloseIdleConnections()
	for _, ep := range b.endpoints {
		if keep != nil {
			if k := keep.byAddr[ep.Address]; k != nil && k.h1 == ep.h1 {
				continue
			}
		}
		ep.h1.closeIdle(true)
	}
}

// shareConns makes b, a rebuilt old, use the fast-path connection pools of
// the endpoints it keeps, when the connections are interchangeable: plain
// HTTP/1.1 both, the same TCP keep-alive, and no connection limit (whose
// count belongs to the backend that dialed). A config change (endpoints
// added or removed, other settings) then keeps warm connections.
func (b *Backend) shareConns(old *Backend) {
	if !b.plainProto() || !old.plainProto() || b.res.maxConns > 0 || old.res.maxConns > 0 ||
		b.dialer.KeepAliveConfig != old.dialer.KeepAliveConfig {
		return
	}
	for _, ep := range b.endpoints {
		if o := old.byAddr[ep.Address]; o != nil {
			ep.h1 = o.h1
		}
	}
}

// Pool keeps compiled backends across reloads, keyed by name: a backend
// whose config is unchanged keeps its Backend (and its warm connections
// and load counters).
type Pool struct {
	mu       sync.Mutex
	backends map[string]*Backend
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{backends: map[string]*Backend{}} }

// Prepare compiles the backends of a config, reusing unchanged ones. It
// does not change the pool: call Commit with the result once the config
// that uses it is live, so a config that fails later does not disturb the
// running one.
func (p *Pool) Prepare(cs []config.Backend) (map[string]*Backend, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]*Backend, len(cs))
	for i := range cs {
		c := &cs[i]
		js, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", c.Name, err)
		}
		spec := string(js)
		if old := p.backends[c.Name]; old != nil && old.spec == spec {
			out[c.Name] = old
			continue
		}
		b, err := newBackend(c, spec)
		if err != nil {
			return nil, err
		}
		if old := p.backends[c.Name]; old != nil {
			b.shareConns(old)
		}
		out[c.Name] = b
	}
	return out, nil
}

// Commit makes set the pool's backends, starts the health checks of new
// backends and releases the idle connections (and stops the health checks)
// of backends no longer used, except the fast-path connections a
// replacement shares (see shareConns). In-flight requests on them finish
// normally.
// A backend that replaces one of the same name takes over the health and
// ejection state of the endpoints it keeps.
func (p *Pool) Commit(set map[string]*Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, b := range set {
		if old := p.backends[name]; old != nil && old != b {
			b.inherit(old)
		}
		b.startHealth()
	}
	for name, old := range p.backends {
		if set[name] != old {
			old.retire(set[name])
		}
	}
	p.backends = set
}

// Close retires every backend: health checks stop, idle connections close.
func (p *Pool) Close() { p.Commit(nil) }

// inherit copies the state of the endpoints b shares with old.
func (b *Backend) inherit(old *Backend) {
	for _, ep := range b.endpoints {
		o := old.byAddr[ep.Address]
		if o == nil {
			continue
		}
		ep.ejectedUntil.Store(o.ejectedUntil.Load())
		ep.ejections.Store(o.ejections.Load())
		if b.res.health != nil && old.res.health != nil {
			ep.unhealthy.Store(o.unhealthy.Load())
		}
	}
}
