package admin

import (
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
