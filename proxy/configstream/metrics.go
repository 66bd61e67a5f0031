package configstream

import "github.com/prometheus/client_golang/prometheus"

// ClientMetrics describe a proxy's config stream to the operator.
type ClientMetrics struct {
	Disconnects prometheus.Counter
	Connected   prometheus.Gauge
}

// NewClientMetrics returns the stream's collectors, registered with reg (nil skips
// registration).
func NewClientMetrics(reg prometheus.Registerer) *ClientMetrics {
	m := &ClientMetrics{
		Disconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentgateway_config_stream_disconnects_total",
			Help: "Config streams to the operator that ended (the proxy keeps its config and reconnects).",
		}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentgateway_config_stream_connected",
			Help: "1 while the config stream to the operator is established, 0 while the proxy cannot reach, verify or be accepted by it (the reason is logged and /ready says it until a config is applied).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Disconnects, m.Connected)
	}
	return m
}
