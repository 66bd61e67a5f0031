package dataplane

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// metricValue sums the series of family name whose labels include want
// (a histogram counts its observations).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// waitMetric waits until the series reach at least least.
func waitMetric(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string, least float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for metricValue(t, reg, name, labels) < least {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v; want at least %v", name, labels, metricValue(t, reg, name, labels), least)
		}
		<-tick.C
	}
}

// TestMetricsOverSockets drives requests through HTTP (fast path) and
// HTTPS (net/http) binds and checks every documented proxy family moves.
func TestMetricsOverSockets(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("test-ca")
	leaf := ca.Issue("a.example.com")
	httpPort, httpsPort := freePort(t), freePort(t)
	reg := prometheus.NewRegistry()
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, DrainTimeout: time.Second})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx) //nolint:errcheck // connections the test left open are closed at the deadline
	})
	mustApply(t, rt, &config.Config{
		Version: "v1",
		Binds: []config.Bind{
			httpBind("http", httpPort, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
				config.HTTPRouteRule{Matches: pathPrefix("/ok"), BackendRefs: to("a")},
				config.HTTPRouteRule{Matches: pathPrefix("/limited"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					RateLimit: &config.RateLimit{Local: []config.LocalRateLimit{{Requests: 1, Unit: config.RateLimitHour}}},
				}},
				config.HTTPRouteRule{Matches: pathPrefix("/retry"), BackendRefs: to("a"), Retry: &config.Retry{Attempts: 1, Codes: []int{503}, Backoff: config.D(time.Millisecond)}},
			)}}),
			{Name: "https", Address: "127.0.0.1", Port: httpsPort, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{
				{Name: "secure", Hostname: "a.example.com", Protocol: config.ProtocolHTTPS,
					TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
					HTTPRoutes: []config.HTTPRoute{hroute("s", nil, config.HTTPRouteRule{BackendRefs: to("a")})}},
			}},
		},
		Backends: []config.Backend{be("a", a.addr)},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for _, p := range []string{"/ok", "/ok", "/nothing", "/limited", "/limited"} {
		get(t, http.DefaultClient, base+p, "")
	}
	req, err := http.NewRequest("GET", base+"/retry", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Echo-Status", "503")
	if r := do(t, http.DefaultClient, req); r.code != 503 {
		t.Fatalf("/retry: %d", r.code)
	}
	resp, err := tlsClient(ca, httpsPort, false).Get("https://a.example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https: %d", resp.StatusCode)
	}
	// Failed handshakes: an unknown server name, and cleartext on the TLS port.
	if c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{RootCAs: ca.Pool(), ServerName: "b.example.com"}); err == nil {
		c.Close()
		t.Fatal("handshake with an unknown server name succeeded")
	}
	plain, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(plain, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(plain); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"agentgateway_requests_total", map[string]string{"bind": "http", "listener": "web", "route": "default/r", "code": "200"}, 3},
		{"agentgateway_requests_total", map[string]string{"bind": "http", "listener": "web", "route": "", "code": "404"}, 1},
		{"agentgateway_requests_total", map[string]string{"bind": "http", "route": "default/r", "code": "429"}, 1},
		{"agentgateway_requests_total", map[string]string{"bind": "https", "listener": "secure", "route": "default/s", "code": "200"}, 1},
		{"agentgateway_request_duration_seconds", map[string]string{"bind": "http", "listener": "web", "route": "default/r"}, 5},
		{"agentgateway_request_duration_seconds", map[string]string{"bind": "https", "listener": "secure", "route": "default/s"}, 1},
		{"agentgateway_upstream_requests_total", map[string]string{"backend": "a", "code": "200"}, 4},
		{"agentgateway_upstream_requests_total", map[string]string{"backend": "a", "code": "503"}, 1},
		{"agentgateway_upstream_request_duration_seconds", map[string]string{"backend": "a"}, 5},
		{"agentgateway_ratelimit_decisions_total", map[string]string{"route": "default/r", "kind": "local", "decision": "allowed"}, 1},
		{"agentgateway_ratelimit_decisions_total", map[string]string{"route": "default/r", "kind": "local", "decision": "limited"}, 1},
		{"agentgateway_retries_total", map[string]string{"route": "default/r", "backend": "a"}, 1},
		{"agentgateway_tls_handshakes_total", map[string]string{"bind": "https", "listener": "secure"}, 1},
		{"agentgateway_upstream_endpoints", map[string]string{"backend": "a", "state": "healthy"}, 1},
		{"agentgateway_downstream_connections_opened_total", nil, 3},
		{"agentgateway_config_reloads_total", map[string]string{"result": "ok"}, 1},
		{"agentgateway_config_info", map[string]string{"version": "v1"}, 1},
	} {
		if got := metricValue(t, reg, c.name, c.labels); got != c.want && !(c.name == "agentgateway_downstream_connections_opened_total" && got >= c.want) {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	// net/http reports failed handshakes after the client saw them fail.
	waitMetric(t, reg, "agentgateway_tls_handshake_errors_total", map[string]string{"bind": "https", "reason": "unknown_server_name"}, 1)
	waitMetric(t, reg, "agentgateway_tls_handshake_errors_total", map[string]string{"bind": "https", "reason": "not_tls"}, 1)
	if got := metricValue(t, reg, "agentgateway_upstream_endpoints", map[string]string{"backend": "a", "state": "ejected"}); got != 0 {
		t.Errorf("ejected endpoints of a: %v", got)
	}
}

func TestHandshakeErrorReason(t *testing.T) {
	for msg, want := range map[string]string{
		"EOF": "eof",
		"read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout":                         "timeout",
		"read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer":      "reset",
		"tls: first record does not look like a TLS handshake":                   "not_tls",
		`no listener for server name "b.example.com"`:                            "unknown_server_name",
		"tls: client didn't provide a certificate":                               "client_certificate",
		"tls: client offered only unsupported versions: [301]":                   "negotiation",
		"tls: no cipher suite supported by both client and server":               "negotiation",
		"tls: client requested unsupported application protocols ([\"spdy/1\"])": "negotiation",
		"client sent an HTTP request to an HTTPS server":                         "not_tls",
		"something new": "other",
		"tls: failed to verify certificate: x509: certificate signed by unknown authority": "client_certificate",
	} {
		if got := handshakeErrorReason(msg); got != want {
			t.Errorf("handshakeErrorReason(%q) = %q; want %q", msg, got, want)
		}
	}
}
