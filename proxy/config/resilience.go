package config

import (
	"time"
)

// Resilience configures how a backend copes with failing endpoints: active
// health checks, outlier detection (passive checks), circuit breakers,
// connect retries and TCP keep-alive. HTTP backends only (L4 routes dial
// their endpoints directly).
type Resilience struct {
	// HealthCheck probes every endpoint; endpoints that fail get no
	// traffic. Health is kept per backend, shared by all routes.
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// OutlierDetection ejects endpoints after consecutive failures. Nil
	// keeps the defaults: 5 consecutive gateway errors or 1 connect
	// failure eject for 5s, at most 50% of the endpoints.
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// CircuitBreakers cap the load sent to the backend; a request over a
	// limit is answered 503 with the x-agentgateway-overflow header.
	CircuitBreakers *CircuitBreakers `json:"circuitBreakers,omitempty"`
	// ConnectRetries is how many other endpoints a request is sent to
	// when connecting to an endpoint fails before any byte of the request
	// was sent. Nil means 2; 0 disables.
	ConnectRetries *int `json:"connectRetries,omitempty"`
	// TCPKeepalive sets TCP keep-alive probes on backend connections.
	// Nil probes after 30s idle.
	TCPKeepalive *UpstreamKeepalive `json:"tcpKeepalive,omitempty"`
}

// HealthCheck is an active health check: exactly one of HTTP and TCP.
type HealthCheck struct {
	// Interval between checks of one endpoint; nil means 5s.
	Interval *Duration `json:"interval,omitempty"`
	// Timeout of one check; nil means 1s (even with a shorter Interval:
	// the next check waits). A set Timeout must not exceed Interval.
	Timeout *Duration `json:"timeout,omitempty"`
	// HealthyThreshold is the number of consecutive passed checks that
	// make an unhealthy endpoint healthy again; 0 means 1.
	HealthyThreshold int `json:"healthyThreshold,omitempty"`
	// UnhealthyThreshold is the number of consecutive failed checks that
	// make an endpoint unhealthy; 0 means 3.
	UnhealthyThreshold int `json:"unhealthyThreshold,omitempty"`
	// HTTP checks send a GET and expect one of the expected statuses.
	HTTP *HTTPHealthCheck `json:"http,omitempty"`
	// TCP checks pass when a connection can be opened.
	TCP *TCPHealthCheck `json:"tcp,omitempty"`
}

// HTTPHealthCheck is a GET request to each endpoint.
type HTTPHealthCheck struct {
	// Path requested, starting with "/".
	Path string `json:"path"`
	// Host header; empty means the endpoint address.
	Host string `json:"host,omitempty"`
	// ExpectedStatuses pass the check; empty means 200-399.
	ExpectedStatuses []StatusRange `json:"expectedStatuses,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Start int `json:"start"`
	// End is inclusive; 0 means Start.
	End int `json:"end,omitempty"`
}

// TCPHealthCheck passes when the endpoint accepts a connection.
type TCPHealthCheck struct{}

// OutlierDetection ejects endpoints after consecutive failures. An
// ejected endpoint gets no traffic for BaseEjectionTime times the number of
// times it was ejected recently; each Interval without an ejection lowers
// that number by one.
type OutlierDetection struct {
	// Consecutive5xx responses (500-599) that eject; 0 disables.
	Consecutive5xx int `json:"consecutive5xx,omitempty"`
	// ConsecutiveGatewayErrors (502, 503, 504) that eject; nil means 5,
	// 0 disables.
	ConsecutiveGatewayErrors *int `json:"consecutiveGatewayErrors,omitempty"`
	// ConsecutiveLocalOriginFailures (connect errors) that eject; nil
	// means 1, 0 disables.
	ConsecutiveLocalOriginFailures *int `json:"consecutiveLocalOriginFailures,omitempty"`
	// Interval after which the ejection count of an endpoint drops by
	// one; nil means 10s.
	Interval *Duration `json:"interval,omitempty"`
	// BaseEjectionTime is the first ejection's length; nil means 5s.
	BaseEjectionTime *Duration `json:"baseEjectionTime,omitempty"`
	// MaxEjectionTime caps the growing ejection time; nil means 300s or
	// BaseEjectionTime if larger.
	MaxEjectionTime *Duration `json:"maxEjectionTime,omitempty"`
	// MaxEjectionPercent of the endpoints may be ejected at once (at
	// least one of several); nil means 50.
	MaxEjectionPercent *int `json:"maxEjectionPercent,omitempty"`
}

// CircuitBreakers cap the load on a backend; 0 means no limit.
type CircuitBreakers struct {
	// MaxConnections open to the backend's endpoints at once.
	MaxConnections int `json:"maxConnections,omitempty"`
	// MaxPendingRequests wait for a connection when MaxConnections are
	// open; more are answered 503. Only with MaxConnections.
	MaxPendingRequests int `json:"maxPendingRequests,omitempty"`
	// MaxRequests in flight to the backend.
	MaxRequests int `json:"maxRequests,omitempty"`
	// MaxRetries in flight to the backend; more retries are not made.
	MaxRetries int `json:"maxRetries,omitempty"`
}

// UpstreamKeepalive is the keep-alive probing of backend connections.
// Unset fields take the system's defaults.
type UpstreamKeepalive struct {
	// Time a connection is idle before the first probe.
	Time *Duration `json:"time,omitempty"`
	// Interval between unanswered probes.
	Interval *Duration `json:"interval,omitempty"`
	// Probes unanswered before the connection is closed; 0 - 64.
	Probes int `json:"probes,omitempty"`
}

// Defaults of Resilience.
const (
	DefaultConnectRetries           = 2
	DefaultHealthInterval           = 5 * time.Second
	DefaultHealthTimeout            = time.Second
	DefaultHealthyThreshold         = 1
	DefaultUnhealthyThreshold       = 3
	DefaultGatewayErrors            = 5
	DefaultLocalOriginFailures      = 1
	DefaultOutlierInterval          = 10 * time.Second
	DefaultBaseEjectionTime         = 5 * time.Second
	DefaultMaxEjectionTime          = 300 * time.Second
	DefaultMaxEjectionPercent       = 50
	maxHealthThreshold              = 1000
	minHealthInterval               = 10 * time.Millisecond
	maxCircuitLimit                 = 1 << 30
	maxConnectRetries               = 10
	maxUpstreamKeepaliveProbes      = 64
	maxConsecutiveFailuresThreshold = 1 << 20
)

// Matches reports whether status is in the range.
func (r StatusRange) Matches(status int) bool {
	end := r.End
	if end == 0 {
		end = r.Start
	}
	return status >= r.Start && status <= end
}

func (v *validator) resilience(b *Backend) {
	r := b.Resilience
	if r == nil {
		return
	}
	n := v.in(".resilience", -1)
	defer v.out(n)
	if b.Protocol == BackendTCP {
		v.addf("", "only for HTTP backends: L4 routes dial TCP backends directly")
		return
	}
	if h := r.HealthCheck; h != nil {
		v.healthCheck(h)
	}
	if o := r.OutlierDetection; o != nil {
		v.outlier(o)
	}
	if c := r.CircuitBreakers; c != nil {
		v.positiveLimit(".circuitBreakers.maxConnections", c.MaxConnections)
		v.positiveLimit(".circuitBreakers.maxPendingRequests", c.MaxPendingRequests)
		v.positiveLimit(".circuitBreakers.maxRequests", c.MaxRequests)
		v.positiveLimit(".circuitBreakers.maxRetries", c.MaxRetries)
		if c.MaxPendingRequests > 0 && c.MaxConnections == 0 {
			v.addf(".circuitBreakers.maxPendingRequests", "requires maxConnections: requests wait only for the connection limit")
		}
	}
	if c := r.ConnectRetries; c != nil && (*c < 0 || *c > maxConnectRetries) {
		v.addf(".connectRetries", "must be 0-%d, got %d", maxConnectRetries, *c)
	}
	if k := r.TCPKeepalive; k != nil {
		if k.Time != nil && k.Time.Duration < time.Second {
			v.addf(".tcpKeepalive.time", "must be at least 1s")
		}
		if k.Interval != nil && k.Interval.Duration < time.Second {
			v.addf(".tcpKeepalive.interval", "must be at least 1s")
		}
		if k.Probes < 0 || k.Probes > maxUpstreamKeepaliveProbes {
			v.addf(".tcpKeepalive.probes", "must be 0-%d, got %d", maxUpstreamKeepaliveProbes, k.Probes)
		}
	}
}

func (v *validator) positiveLimit(field string, n int) {
	if n < 0 || n > maxCircuitLimit {
		v.addf(field, "must be 0-%d, got %d", maxCircuitLimit, n)
	}
}

func (v *validator) healthCheck(h *HealthCheck) {
	switch {
	case h.HTTP == nil && h.TCP == nil:
		v.addf(".healthCheck", "set http or tcp")
	case h.HTTP != nil && h.TCP != nil:
		v.addf(".healthCheck", "set only one of http and tcp")
	}
	interval, timeout := DefaultHealthInterval, DefaultHealthTimeout
	if h.Interval != nil {
		interval = h.Interval.Duration
		if interval < minHealthInterval {
			v.addf(".healthCheck.interval", "must be at least %s", minHealthInterval)
		}
	}
	if h.Timeout != nil {
		timeout = h.Timeout.Duration
		if timeout <= 0 {
			v.addf(".healthCheck.timeout", "must be positive")
		}
	}
	if timeout > interval && h.Timeout != nil {
		v.addf(".healthCheck.timeout", "must not exceed the interval (%s)", interval)
	}
	if h.HealthyThreshold < 0 || h.HealthyThreshold > maxHealthThreshold {
		v.addf(".healthCheck.healthyThreshold", "must be 0-%d, got %d", maxHealthThreshold, h.HealthyThreshold)
	}
	if h.UnhealthyThreshold < 0 || h.UnhealthyThreshold > maxHealthThreshold {
		v.addf(".healthCheck.unhealthyThreshold", "must be 0-%d, got %d", maxHealthThreshold, h.UnhealthyThreshold)
	}
	if hc := h.HTTP; hc != nil {
		if len(hc.Path) == 0 || hc.Path[0] != '/' || !validPathChars(hc.Path) {
			v.addf(".healthCheck.http.path", "must start with / and hold no spaces or control characters, got %q", hc.Path)
		}
		if !validPathChars(hc.Host) {
			v.addf(".healthCheck.http.host", "must hold no spaces or control characters, got %q", hc.Host)
		}
		for i, r := range hc.ExpectedStatuses {
			end := r.End
			if end == 0 {
				end = r.Start
			}
			if r.Start < 100 || r.Start > 599 || end < r.Start || end > 599 {
				v.addAt(".healthCheck.http.expectedStatuses", i, "must be a range within 100-599, got %d-%d", r.Start, r.End)
			}
		}
	}
}

func validPathChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (v *validator) outlier(o *OutlierDetection) {
	if o.Consecutive5xx < 0 || o.Consecutive5xx > maxConsecutiveFailuresThreshold {
		v.addf(".outlierDetection.consecutive5xx", "must be 0-%d, got %d", maxConsecutiveFailuresThreshold, o.Consecutive5xx)
	}
	if p := o.ConsecutiveGatewayErrors; p != nil && (*p < 0 || *p > maxConsecutiveFailuresThreshold) {
		v.addf(".outlierDetection.consecutiveGatewayErrors", "must be 0-%d, got %d", maxConsecutiveFailuresThreshold, *p)
	}
	if p := o.ConsecutiveLocalOriginFailures; p != nil && (*p < 0 || *p > maxConsecutiveFailuresThreshold) {
		v.addf(".outlierDetection.consecutiveLocalOriginFailures", "must be 0-%d, got %d", maxConsecutiveFailuresThreshold, *p)
	}
	for _, d := range []struct {
		name string
		d    *Duration
	}{{".interval", o.Interval}, {".baseEjectionTime", o.BaseEjectionTime}, {".maxEjectionTime", o.MaxEjectionTime}} {
		if d.d != nil && d.d.Duration <= 0 {
			v.addf(".outlierDetection"+d.name, "must be positive")
		}
	}
	if p := o.MaxEjectionPercent; p != nil && (*p < 0 || *p > 100) {
		v.addf(".outlierDetection.maxEjectionPercent", "must be 0-100, got %d", *p)
	}
}
