package dataplane

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// Metrics are the runtime's Prometheus collectors. They are registered on
// the registry given in Options (the admin server exposes it).
type Metrics struct {
	Requests        *prometheus.CounterVec
	Duration        *prometheus.HistogramVec
	UpstreamErrors  *prometheus.CounterVec
	Reloads         *prometheus.CounterVec
	ConfigInfo      *prometheus.GaugeVec
	MirrorsDropped  prometheus.Counter
	ActiveListeners prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_requests_total",
			Help: "HTTP requests served, by bind, listener, route and status code.",
		}, []string{"bind", "listener", "route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentgateway_request_duration_seconds",
			Help:    "Time from request headers read to response handler return, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"bind", "route"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_upstream_errors_total",
			Help: "Failed backend exchanges (connect errors, timeouts, resets), by backend and reason.",
		}, []string{"backend", "reason"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_config_reloads_total",
			Help: "Config applications, by result (ok, failed).",
		}, []string{"result"}),
		ConfigInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentgateway_config_info",
			Help: "1 for the config version currently served.",
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
		reg.MustRegister(m.Requests, m.Duration, m.UpstreamErrors, m.Reloads, m.ConfigInfo, m.MirrorsDropped, m.ActiveListeners)
		reg.MustRegister(upstream.Collectors()...)
	}
	// Pre-create the reload series so a dashboard sees 0, not "no data".
	m.Reloads.WithLabelValues("ok")
	m.Reloads.WithLabelValues("failed")
	return m
}
