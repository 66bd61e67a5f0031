package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// OverflowHeader names the circuit breaker limit that made the proxy
// answer 503 instead of sending a request to the backend.
const OverflowHeader = "X-Agentgateway-Overflow"

// Circuit breaker limits, as OverflowHeader values and metric labels.
const (
	limitRequests    = "requests"
	limitConnections = "connections"
	limitPending     = "pending"
	limitRetries     = "retries"
)

var (
	connectRetriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgateway_upstream_connect_retries_total",
		Help: "Requests sent to another endpoint because connecting to one failed before any byte was sent, by backend.",
	}, []string{"backend"})
	overflowTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgateway_upstream_overflow_total",
		Help: "Requests and retries refused by a backend's circuit breakers, by backend and limit (requests, connections, pending, retries).",
	}, []string{"backend", "limit"})
	ejectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgateway_upstream_ejections_total",
		Help: "Endpoints ejected by outlier detection, by backend.",
	}, []string{"backend"})
	healthTransitionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgateway_upstream_health_transitions_total",
		Help: "Endpoints found unhealthy or healthy again by active health checks, by backend and state.",
	}, []string{"backend", "state"})
)

// Collectors are the package's Prometheus collectors; register them
// where the runtime's metrics are.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{connectRetriesTotal, replaysTotal, overflowTotal, ejectionsTotal, healthTransitionsTotal}
}

// resilience is a compiled config.Resilience with its defaults applied.
type resilience struct {
	connectRetries int
	// Outlier detection: thresholds of consecutive failures (0 disables).
	fivexx, gateway, local int32
	interval, baseEject    int64 // nanoseconds
	maxEject               int64
	maxEjectPercent        int
	// Circuit breakers (0: no limit).
	maxRequests, maxConns, maxPending, maxRetries int64
	health                                        *config.HealthCheck
}

func compileResilience(r *config.Resilience) resilience {
	c := resilience{
		connectRetries:  config.DefaultConnectRetries,
		gateway:         config.DefaultGatewayErrors,
		local:           config.DefaultLocalOriginFailures,
		interval:        int64(config.DefaultOutlierInterval),
		baseEject:       int64(config.DefaultBaseEjectionTime),
		maxEject:        int64(config.DefaultMaxEjectionTime),
		maxEjectPercent: config.DefaultMaxEjectionPercent,
	}
	if r == nil {
		return c
	}
	if r.ConnectRetries != nil {
		c.connectRetries = *r.ConnectRetries
	}
	if o := r.OutlierDetection; o != nil {
		c.fivexx = int32(o.Consecutive5xx)
		if o.ConsecutiveGatewayErrors != nil {
			c.gateway = int32(*o.ConsecutiveGatewayErrors)
		}
		if o.ConsecutiveLocalOriginFailures != nil {
			c.local = int32(*o.ConsecutiveLocalOriginFailures)
		}
		if o.Interval != nil {
			c.interval = int64(o.Interval.Duration)
		}
		if o.BaseEjectionTime != nil {
			c.baseEject = int64(o.BaseEjectionTime.Duration)
		}
		if o.MaxEjectionTime != nil {
			c.maxEject = int64(o.MaxEjectionTime.Duration)
		}
		c.maxEject = max(c.maxEject, c.baseEject)
		if o.MaxEjectionPercent != nil {
			c.maxEjectPercent = *o.MaxEjectionPercent
		}
	}
	if cb := r.CircuitBreakers; cb != nil {
		c.maxRequests = int64(cb.MaxRequests)
		c.maxConns = int64(cb.MaxConnections)
		c.maxPending = int64(cb.MaxPendingRequests)
		c.maxRetries = int64(cb.MaxRetries)
	}
	c.health = r.HealthCheck
	return c
}

// keepalive is the TCP keep-alive of backend dials.
func keepalive(r *config.Resilience) net.KeepAliveConfig {
	if r == nil || r.TCPKeepalive == nil {
		return net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: -1}
	}
	k := r.TCPKeepalive
	kc := net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}
	if k.Time != nil {
		kc.Idle = k.Time.Duration
	}
	if k.Interval != nil {
		kc.Interval = k.Interval.Duration
	}
	if k.Probes > 0 {
		kc.Count = k.Probes
	}
	return kc
}

// breakers reports whether any circuit breaker is set.
func (r *resilience) breakers() bool {
	return r.maxRequests > 0 || r.maxConns > 0 || r.maxRetries > 0
}

// rank orders endpoints for picking: 0 is a healthy, not ejected, not
// terminating endpoint; higher is worse. Unhealthy (active checks) is
// worse than ejected (outlier detection), which is worse than
// terminating (still serving).
func (e *Endpoint) rank(now int64) int {
	r := 0
	if e.terminating {
		r++
	}
	if e.ejected(now) {
		r += 2
	}
	if e.unhealthy.Load() {
		r += 4
	}
	return r
}

// observe feeds outlier detection with a response status.
func (b *Backend) observe(ep *Endpoint, status int) {
	if ep.failsLocal.Load() != 0 {
		ep.failsLocal.Store(0)
	}
	o := &b.res
	if status < 500 {
		if ep.fails5xx.Load() != 0 {
			ep.fails5xx.Store(0)
		}
		if ep.failsGW.Load() != 0 {
			ep.failsGW.Store(0)
		}
		return
	}
	if o.fivexx > 0 && ep.fails5xx.Add(1) >= o.fivexx {
		ep.fails5xx.Store(0)
		ep.failsGW.Store(0)
		b.eject(ep)
		return
	}
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if o.gateway > 0 && ep.failsGW.Add(1) >= o.gateway {
			ep.failsGW.Store(0)
			ep.fails5xx.Store(0)
			b.eject(ep)
		}
	default:
		if ep.failsGW.Load() != 0 {
			ep.failsGW.Store(0)
		}
	}
}

// localFailure feeds outlier detection with a failed connect.
func (b *Backend) localFailure(ep *Endpoint) {
	if l := b.res.local; l > 0 && ep.failsLocal.Add(1) >= l {
		ep.failsLocal.Store(0)
		b.eject(ep)
	}
}

// eject takes ep out of rotation for the base ejection time times its
// recent ejections (each outlier interval after the last ejection ended
// forgets one), unless that would eject more than the maximum percentage
// of the endpoints; one endpoint of several may always be ejected.
func (b *Backend) eject(ep *Endpoint) {
	o := &b.res
	if o.maxEjectPercent <= 0 {
		return
	}
	now := time.Now().UnixNano()
	ejected := 0
	for _, e := range b.endpoints {
		if e != ep && e.ejected(now) {
			ejected++
		}
	}
	if n := len(b.endpoints); n > 1 && ejected > 0 && (ejected+1)*100 > n*o.maxEjectPercent {
		return
	}
	k := int64(ep.ejections.Load())
	if until := ep.ejectedUntil.Load(); until != 0 && now > until && o.interval > 0 {
		k -= (now - until) / o.interval
	}
	k = max(k, 0) + 1
	d := min(o.baseEject*k, o.maxEject)
	ep.ejections.Store(int32(min(k, 1<<20)))
	ep.ejectedUntil.Store(now + d)
	ejectionsTotal.WithLabelValues(b.Name).Inc()
}

// overflowError is a request refused by a circuit breaker.
type overflowError struct{ limit string }

func (e *overflowError) Error() string { return "backend circuit breaker open: " + e.limit }

// overflowCounter returns the backend's overflow counter of limit.
func (b *Backend) overflowCounter(limit string) prometheus.Counter {
	p := &b.overflows[limitIndex(limit)]
	if c := p.Load(); c != nil {
		return *c
	}
	c := overflowTotal.WithLabelValues(b.Name, limit)
	p.Store(&c)
	return c
}

func limitIndex(limit string) int {
	switch limit {
	case limitRequests:
		return 0
	case limitConnections:
		return 1
	case limitPending:
		return 2
	default:
		return 3 // limitRetries
	}
}

// overflow answers a request refused by a circuit breaker: 503 with
// OverflowHeader naming the limit.
func (b *Backend) overflow(req *http.Request, limit string) *http.Response {
	b.overflowCounter(limit).Inc()
	closeBody(req)
	body := "upstream overflow: " + limit + "\n"
	return &http.Response{
		Status:     "503 Service Unavailable",
		StatusCode: http.StatusServiceUnavailable,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			OverflowHeader:   {limit},
			"Content-Type":   {"text/plain; charset=utf-8"},
			"Content-Length": {strconv.Itoa(len(body))},
		},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(strings.NewReader(body)),
		Request:       req,
	}
}

// admittedBody ends a request's circuit breaker slot when the response
// body is closed. It keeps io.Writer (protocol upgrades).
type admittedBody struct {
	io.ReadCloser
	b    *Backend
	once sync.Once
}

func (a *admittedBody) Close() error {
	a.once.Do(func() { a.b.admitted.Add(-1) })
	return a.ReadCloser.Close()
}

func (a *admittedBody) Write(p []byte) (int, error) {
	if w, ok := a.ReadCloser.(io.Writer); ok {
		return w.Write(p)
	}
	return 0, errors.New("response body is not writable")
}

// countedConn gives its connection slot back when closed.
type countedConn struct {
	net.Conn
	b    *Backend
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.b.releaseConn)
	return c.Conn.Close()
}

// connFreed returns a channel closed when a connection slot may have come
// free: a connection closed or went idle.
func (b *Backend) connFreed() <-chan struct{} {
	b.freeMu.Lock()
	defer b.freeMu.Unlock()
	if b.freed == nil {
		b.freed = make(chan struct{})
	}
	return b.freed
}

func (b *Backend) signalFreed() {
	b.freeMu.Lock()
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
	b.freeMu.Unlock()
}

func (b *Backend) releaseConn() {
	b.conns.Add(-1)
	b.signalFreed()
}

// acquireConn takes a connection slot under maxConnections, waiting (as
// one of at most maxPending requests) for one to free up. While waiting
// it closes idle connections, which hold slots too; idle reports an idle
// connection the caller can use instead, which ends the wait.
func (b *Backend) acquireConn(ctx context.Context, idle func() bool) error {
	pending := false
	defer func() {
		if pending {
			b.pending.Add(-1)
		}
	}()
	for {
		freed := b.connFreed()
		if b.conns.Add(1) <= b.res.maxConns {
			return nil
		}
		b.conns.Add(-1)
		if idle != nil && idle() {
			return errUseIdle
		}
		if !pending {
			if b.pending.Add(1) > b.res.maxPending {
				b.pending.Add(-1)
				if b.res.maxPending == 0 {
					return &overflowError{limitConnections}
				}
				return &overflowError{limitPending}
			}
			pending = true
		}
		b.closeOneIdle()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// errUseIdle: acquireConn found an idle connection instead of a slot.
var errUseIdle = errors.New("idle connection available")

// closeOneIdle closes an idle connection of the backend to free its slot.
func (b *Backend) closeOneIdle() {
	for _, ep := range b.endpoints {
		if ep.h1.closeOne() {
			return
		}
	}
	b.transport.CloseIdleConnections()
}

// dialTo opens a TCP connection to addr under the connection limit.
func (b *Backend) dialTo(ctx context.Context, network, addr string, idle func() bool) (net.Conn, error) {
	if b.res.maxConns <= 0 {
		return b.dialer.DialContext(ctx, network, addr)
	}
	if err := b.acquireConn(ctx, idle); err != nil {
		return nil, err
	}
	c, err := b.dialer.DialContext(ctx, network, addr)
	if err != nil {
		b.releaseConn()
		return nil, err
	}
	return &countedConn{Conn: c, b: b}, nil
}

// dialFailed reports whether err is a failure to connect: nothing of the
// request was sent.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// rewindBody lets a request body be sent again when the first attempt
// failed before reading any of it.
type rewindBody struct {
	io.ReadCloser
	read     atomic.Bool
	detached atomic.Bool
}

func (r *rewindBody) Read(p []byte) (int, error) {
	if r.detached.Load() {
		return 0, errors.New("request body handed to another attempt")
	}
	r.read.Store(true)
	return r.ReadCloser.Read(p)
}

// Close closes a body that was read from; one never read from stays open
// for the next attempt (RoundTrip closes it if there is none).
func (r *rewindBody) Close() error {
	if r.read.Load() {
		return r.ReadCloser.Close()
	}
	return nil
}

// EndpointCounts counts a backend's endpoints by state; each endpoint is
// in its worst state (unhealthy, ejected, terminating, healthy).
type EndpointCounts struct {
	Healthy, Terminating, Ejected, Unhealthy int
}

// EndpointStates counts the backend's endpoints by state now.
func (b *Backend) EndpointStates() EndpointCounts {
	var n EndpointCounts
	now := time.Now().UnixNano()
	for _, e := range b.endpoints {
		switch {
		case e.unhealthy.Load():
			n.Unhealthy++
		case e.ejected(now):
			n.Ejected++
		case e.terminating:
			n.Terminating++
		default:
			n.Healthy++
		}
	}
	return n
}
