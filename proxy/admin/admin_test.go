package admin

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

type fixed struct{ c *config.Config }

func (f *fixed) Current() *config.Config { return f.c }

func TestAdminEndpoints(t *testing.T) {
	src := &fixed{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "test_total", Help: "x"}))
	a := New(src, reg)
	srv := httptest.NewServer(a)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/ready"); code != 503 {
		t.Errorf("ready before config: %d", code)
	}
	a.SetSourceError(errors.New("config server 10.0.0.1:9977 unreachable: dial tcp: i/o timeout"))
	if code, body := get("/ready"); code != 503 || body != "no config yet: config server 10.0.0.1:9977 unreachable: dial tcp: i/o timeout\n" {
		t.Errorf("ready while the source fails: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	src.c = &config.Config{Version: "7", Binds: []config.Bind{{Name: "b", Listeners: []config.Listener{{Name: "l", TLS: &config.ListenerTLS{
		Certificates: []config.Certificate{{CertChain: "CERT", PrivateKey: "-----BEGIN PRIVATE KEY-----secret"}},
	}}}}}}
	if code, _ := get("/ready"); code != 200 {
		t.Errorf("ready after config: %d", code)
	}
	code, body := get("/config_dump")
	if code != 200 || !strings.Contains(body, `"version": "7"`) || strings.Contains(body, "secret") || !strings.Contains(body, config.RedactedValue) {
		t.Errorf("config_dump: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "test_total") {
		t.Errorf("metrics: %d %s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Errorf("pprof: %d", code)
	}
	a.SetDraining()
	if code, _ := get("/ready"); code != 503 {
		t.Errorf("ready while draining: %d", code)
	}
}

// TestHealthAndMetricsServeOnlyTheirs: the handlers meant for the pod IP do not expose the
// config dump nor profiling.
func TestHealthAndMetricsServeOnlyTheirs(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "test_total", Help: "x"}))
	a := New(&fixed{c: &config.Config{Version: "1"}}, reg)
	for _, tc := range []struct {
		h    http.Handler
		path string
		want int
	}{
		{a.Health(), "/healthz", 200}, {a.Health(), "/ready", 200}, {a.Health(), "/metrics", 404},
		{a.Health(), "/config_dump", 404}, {a.Health(), "/debug/pprof/", 404},
		{a.Metrics(), "/metrics", 200}, {a.Metrics(), "/ready", 404},
		{a.Metrics(), "/config_dump", 404}, {a.Metrics(), "/debug/pprof/", 404},
	} {
		srv := httptest.NewServer(tc.h)
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
}
