package dataplane

import (
	"bytes"
	"crypto/tls"
	"log"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// Metrics are the runtime's Prometheus collectors. They are registered on
// the registry given in Options (the metrics server exposes it);
// docs/metrics.md, generated from them by hack/metricsdoc, is their
// reference, so their Help strings are the documentation.
//
// Per-request series are looked up when a route is compiled or on its
// first request (routeSeries, backendSeries), not by label values on every
// request.
type Metrics struct {
	Requests         *prometheus.CounterVec
	Duration         *prometheus.HistogramVec
	UpstreamRequests *prometheus.CounterVec
	UpstreamDuration *prometheus.HistogramVec
	UpstreamErrors   *prometheus.CounterVec
	Retries          *prometheus.CounterVec
	RetryBudget      *prometheus.CounterVec
	RateLimits       *prometheus.CounterVec
	Handshakes       *prometheus.CounterVec
	HandshakeErrors  *prometheus.CounterVec
	Reloads          *prometheus.CounterVec
	ConfigInfo       *prometheus.GaugeVec
	MirrorsDropped   prometheus.Counter
	ActiveListeners  prometheus.Gauge
}

// durationBuckets are the classic buckets of request durations; the
// histograms also have native buckets (nativeHistogram) for scrapers that
// ask for them.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// nativeHistogram adds native-histogram settings to o: a bucket factor of
// 1.1 (about 10% relative error), at most 100 buckets, reset at most hourly.
func nativeHistogram(o prometheus.HistogramOpts) prometheus.HistogramOpts {
	o.NativeHistogramBucketFactor = 1.1
	o.NativeHistogramMaxBucketNumber = 100
	o.NativeHistogramMinResetDuration = time.Hour
	return o
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_requests_total",
			Help: "HTTP requests answered, by bind, listener, route and status code (route empty when no route matched); errors are the 5xx codes.",
		}, []string{"bind", "listener", "route", "code"}),
		Duration: prometheus.NewHistogramVec(nativeHistogram(prometheus.HistogramOpts{
			Name:    "agentgateway_request_duration_seconds",
			Help:    "Time from a request's headers read to its response finished, by bind, listener and route.",
			Buckets: durationBuckets,
		}), []string{"bind", "listener", "route"}),
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_upstream_requests_total",
			Help: "HTTP requests routed to a backend, by backend and the status code the client got (retries inside one request count once).",
		}, []string{"backend", "code"}),
		UpstreamDuration: prometheus.NewHistogramVec(nativeHistogram(prometheus.HistogramOpts{
			Name:    "agentgateway_upstream_request_duration_seconds",
			Help:    "Time from a request's headers read to its response finished, for requests routed to a backend, by backend.",
			Buckets: durationBuckets,
		}), []string{"backend"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_upstream_errors_total",
			Help: "Failed backend exchanges (connect errors, timeouts, resets), by backend and reason.",
		}, []string{"backend", "reason"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_retries_total",
			Help: "Retries of route rules with a retry policy (attempts after the first), by route and backend.",
		}, []string{"route", "backend"}),
		RetryBudget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_retry_budget_exhausted_total",
			Help: "Retries not made because a budget was spent, by route, backend and budget: configured (a retry budget policy; the client got 503) or builtin (the backend's concurrency budget; the client got the failed answer).",
		}, []string{"route", "backend", "budget"}),
		RateLimits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_ratelimit_decisions_total",
			Help: "Rate-limit decisions, by route, kind (local: the proxy's token buckets; global: the rate-limit service) and decision (allowed, limited: the request was refused).",
		}, []string{"route", "kind", "decision"}),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_tls_handshakes_total",
			Help: "TLS handshakes completed on HTTPS binds (TCP and QUIC), by bind and listener.",
		}, []string{"bind", "listener"}),
		HandshakeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_tls_handshake_errors_total",
			Help: "TLS handshakes that failed on HTTPS binds over TCP, by bind and reason: eof (the client closed), timeout, reset, not_tls, unknown_server_name (no listener for the SNI), client_certificate (missing or not valid), negotiation (no common version, cipher suite or ALPN protocol), other.",
		}, []string{"bind", "reason"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_config_reloads_total",
			Help: "Config applications, by result (ok, failed: the config was rejected and the previous one kept serving).",
		}, []string{"result"}),
		ConfigInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentgateway_config_info",
			Help: "1 for the config version currently served (the operator's content hash).",
		}, []string{"version"}),
		MirrorsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentgateway_mirrors_dropped_total",
			Help: "Mirrored requests skipped because too many were in flight or the body was too large.",
		}),
		ActiveListeners: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentgateway_binds",
			Help: "Binds (listening sockets) currently open.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Duration, m.UpstreamRequests, m.UpstreamDuration, m.UpstreamErrors,
			m.Retries, m.RetryBudget, m.RateLimits, m.Handshakes, m.HandshakeErrors,
			m.Reloads, m.ConfigInfo, m.MirrorsDropped, m.ActiveListeners)
		reg.MustRegister(upstream.Collectors()...)
	}
	// Pre-create the reload series so a dashboard sees 0, not "no data".
	m.Reloads.WithLabelValues("ok")
	m.Reloads.WithLabelValues("failed")
	return m
}

// codeCounters are the request counters of one label set by status code,
// each looked up once.
type codeCounters struct {
	vec    *prometheus.CounterVec
	labels []string // the values before code
	byCode sync.Map // int -> prometheus.Counter
}

func (c *codeCounters) get(code int) prometheus.Counter {
	if v, ok := c.byCode.Load(code); ok {
		return v.(prometheus.Counter)
	}
	ctr := c.vec.WithLabelValues(append(c.labels[:len(c.labels):len(c.labels)], strconv.Itoa(code))...)
	c.byCode.Store(code, ctr)
	return ctr
}

// routeSeries are the request series of one route rule on one listener.
type routeSeries struct {
	bind, listener string
	requests       codeCounters
	duration       prometheus.Observer
}

// routeSeries returns rule's series on bind and listener, made on the
// rule's first request there. A rule belongs to one listener, so the
// lookup is made once per compiled rule.
func (m *Metrics) routeSeries(rule *ruleHandler, bind, listener string) *routeSeries {
	if rs := rule.series.Load(); rs != nil && rs.bind == bind && rs.listener == listener {
		return rs
	}
	rs := &routeSeries{
		bind: bind, listener: listener,
		requests: codeCounters{vec: m.Requests, labels: []string{bind, listener, rule.routeKey}},
		duration: m.Duration.WithLabelValues(bind, listener, rule.routeKey),
	}
	rule.series.Store(rs)
	return rs
}

// backendSeries are the request series of one backend of a rule, looked up
// when the rule is compiled.
type backendSeries struct {
	requests codeCounters
	duration prometheus.Observer
}

func (m *Metrics) backendSeries(backend string) *backendSeries {
	if m == nil {
		return nil
	}
	return &backendSeries{
		requests: codeCounters{vec: m.UpstreamRequests, labels: []string{backend}},
		duration: m.UpstreamDuration.WithLabelValues(backend),
	}
}

// record counts a finished request: on its route rule (nil when none
// matched) and on the backend it went to (ref nil when none).
func (m *Metrics) record(bind, listener string, rule *ruleHandler, ref *refHandler, code int, elapsed time.Duration) {
	secs := elapsed.Seconds()
	if rule == nil {
		m.Requests.WithLabelValues(bind, listener, "", strconv.Itoa(code)).Inc()
		m.Duration.WithLabelValues(bind, listener, "").Observe(secs)
		return
	}
	rs := m.routeSeries(rule, bind, listener)
	rs.requests.get(code).Inc()
	rs.duration.Observe(secs)
	if ref != nil && ref.series != nil {
		ref.series.requests.get(code).Inc()
		ref.series.duration.Observe(secs)
	}
}

// countedLimit counts the decisions of a rate-limit step.
type countedLimit struct {
	policy.Step
	allowed, limited prometheus.Counter
}

func (m *Metrics) countLimit(s policy.Step, route, kind string) policy.Step {
	if m == nil {
		return s
	}
	return countedLimit{Step: s, allowed: m.RateLimits.WithLabelValues(route, kind, "allowed"), limited: m.RateLimits.WithLabelValues(route, kind, "limited")}
}

func (c countedLimit) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if c.Step.Request(w, r, act) {
		c.allowed.Inc()
		return true
	}
	c.limited.Inc()
	return false
}

// countHandshakes returns a copy of a listener's TLS config that counts
// its completed handshakes (VerifyConnection runs on every server
// handshake, resumed ones too, once the peer is verified).
func (m *Metrics) countHandshakes(t *tls.Config, bind, listener string) *tls.Config {
	if m == nil {
		return t
	}
	done := m.Handshakes.WithLabelValues(bind, listener)
	c := t.Clone()
	verify := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		done.Inc()
		return nil
	}
	return c
}

// httpErrorLog is the error log of a bind's net/http server: it counts
// the TLS handshake errors net/http reports there and passes every line
// to the runtime's log at debug level.
type httpErrorLog struct {
	log    *slog.Logger
	errors *prometheus.CounterVec
	bind   string
}

const tlsHandshakeError = "http: TLS handshake error from "

func (m *Metrics) httpErrorLog(l *slog.Logger, bind string) *log.Logger {
	return log.New(&httpErrorLog{log: l, errors: m.HandshakeErrors, bind: bind}, "", 0)
}

func (h *httpErrorLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	if rest, ok := strings.CutPrefix(line, tlsHandshakeError); ok {
		// "<addr>: <error>"
		if _, msg, ok := strings.Cut(rest, ": "); ok {
			h.errors.WithLabelValues(h.bind, handshakeErrorReason(msg)).Inc()
		}
	}
	h.log.Debug(line)
	return len(p), nil
}

// handshakeErrorReason classifies a TLS handshake error message.
func handshakeErrorReason(msg string) string {
	switch {
	case msg == "EOF" || strings.HasSuffix(msg, "EOF"):
		return "eof"
	case strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "deadline exceeded"):
		return "timeout"
	case strings.Contains(msg, "connection reset"):
		return "reset"
	case strings.Contains(msg, "does not look like a TLS handshake") || strings.Contains(msg, "HTTP request to an HTTPS server"):
		return "not_tls"
	case strings.Contains(msg, "no listener for server name"):
		return "unknown_server_name"
	case strings.Contains(msg, "certificate"):
		return "client_certificate"
	case strings.Contains(msg, "unsupported versions") || strings.Contains(msg, "no cipher suite") ||
		strings.Contains(msg, "application protocol") || strings.Contains(msg, "protocol version"):
		return "negotiation"
	}
	return "other"
}

// endpointStates reports, at scrape time, the endpoints of the serving
// config's backends by state.
type endpointStates struct {
	rt   *Runtime
	desc *prometheus.Desc
}

func newEndpointStates(rt *Runtime) *endpointStates {
	return &endpointStates{rt: rt, desc: prometheus.NewDesc("agentgateway_upstream_endpoints",
		"Endpoints of the serving config's backends, by backend and state: healthy, terminating (gets requests only when every endpoint is), ejected (outlier detection) or unhealthy (active health checks); each endpoint is counted in its worst state.",
		[]string{"backend", "state"}, nil)}
}

// ValueType tells hack/metricsdoc the type of the series, which exist
// only while a config with backends is served.
func (e *endpointStates) ValueType() prometheus.ValueType { return prometheus.GaugeValue }

func (e *endpointStates) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

func (e *endpointStates) Collect(ch chan<- prometheus.Metric) {
	g := e.rt.graph.Load()
	if g == nil {
		return
	}
	for name, b := range g.backends {
		if b == nil {
			continue
		}
		n := b.EndpointStates()
		for _, st := range []struct {
			state string
			n     int
		}{{"healthy", n.Healthy}, {"terminating", n.Terminating}, {"ejected", n.Ejected}, {"unhealthy", n.Unhealthy}} {
			ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(st.n), name, st.state)
		}
	}
}
