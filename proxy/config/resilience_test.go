package config

import (
	"strings"
	"testing"
	"time"
)

func TestResilienceValidation(t *testing.T) {
	neg := -1
	for _, tc := range []struct {
		name string
		r    Resilience
		want string // empty: valid
	}{
		{"http check", Resilience{HealthCheck: &HealthCheck{Interval: D(time.Second), Timeout: D(time.Second), HTTP: &HTTPHealthCheck{Path: "/healthz", ExpectedStatuses: []StatusRange{{Start: 200, End: 299}}}}}, ""},
		{"tcp check", Resilience{HealthCheck: &HealthCheck{TCP: &TCPHealthCheck{}}}, ""},
		{"no check kind", Resilience{HealthCheck: &HealthCheck{}}, "set http or tcp"},
		{"both kinds", Resilience{HealthCheck: &HealthCheck{TCP: &TCPHealthCheck{}, HTTP: &HTTPHealthCheck{Path: "/"}}}, "only one of"},
		{"bad path", Resilience{HealthCheck: &HealthCheck{HTTP: &HTTPHealthCheck{Path: "health z"}}}, "healthCheck.http.path"},
		{"timeout over interval", Resilience{HealthCheck: &HealthCheck{Interval: D(time.Second), Timeout: D(2 * time.Second), TCP: &TCPHealthCheck{}}}, "must not exceed the interval"},
		{"bad status", Resilience{HealthCheck: &HealthCheck{HTTP: &HTTPHealthCheck{Path: "/", ExpectedStatuses: []StatusRange{{Start: 300, End: 200}}}}}, "expectedStatuses[0]"},
		{"outlier", Resilience{OutlierDetection: &OutlierDetection{Consecutive5xx: 3, BaseEjectionTime: D(time.Second)}}, ""},
		{"outlier percent", Resilience{OutlierDetection: &OutlierDetection{MaxEjectionPercent: &neg}}, "maxEjectionPercent"},
		{"outlier zero time", Resilience{OutlierDetection: &OutlierDetection{BaseEjectionTime: D(0)}}, "baseEjectionTime: must be positive"},
		{"pending without connections", Resilience{CircuitBreakers: &CircuitBreakers{MaxPendingRequests: 3}}, "requires maxConnections"},
		{"negative limit", Resilience{CircuitBreakers: &CircuitBreakers{MaxRequests: -1}}, "maxRequests"},
		{"connect retries", Resilience{ConnectRetries: &neg}, "connectRetries"},
		{"keepalive", Resilience{TCPKeepalive: &UpstreamKeepalive{Time: D(time.Millisecond)}}, "tcpKeepalive.time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			c := &Config{Version: "1", Backends: []Backend{{Name: "b", Endpoints: []Endpoint{{Address: "10.0.0.1:80", Terminating: true}}, Resilience: &r}}}
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	c := &Config{Version: "1", Backends: []Backend{{Name: "t", Protocol: BackendTCP, Resilience: &Resilience{ConnectRetries: &neg}}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "only for HTTP backends") {
		t.Fatalf("TCP backend with resilience: %v", err)
	}
}

func TestResilienceDecode(t *testing.T) {
	in := `{"version":"1","backends":[{"name":"b","endpoints":[{"address":"10.0.0.1:80","terminating":true}],"resilience":{
		"healthCheck":{"interval":"2s","timeout":"1s","healthyThreshold":2,"unhealthyThreshold":3,"http":{"path":"/healthz","expectedStatuses":[{"start":200,"end":204}]}},
		"outlierDetection":{"consecutive5xx":5,"consecutiveGatewayErrors":3,"consecutiveLocalOriginFailures":1,"interval":"10s","baseEjectionTime":"30s","maxEjectionPercent":20},
		"circuitBreakers":{"maxConnections":100,"maxPendingRequests":10,"maxRequests":200,"maxRetries":3},
		"connectRetries":1,"tcpKeepalive":{"time":"60s","interval":"10s","probes":4}}}]}`
	c, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Backends[0]
	r := b.Resilience
	if !b.Endpoints[0].Terminating || r.HealthCheck.Interval.Duration != 2*time.Second || r.HealthCheck.HTTP.ExpectedStatuses[0].End != 204 ||
		*r.OutlierDetection.ConsecutiveGatewayErrors != 3 || r.CircuitBreakers.MaxPendingRequests != 10 || *r.ConnectRetries != 1 || r.TCPKeepalive.Probes != 4 {
		t.Fatalf("decoded %+v", r)
	}
}
