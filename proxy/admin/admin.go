// Package admin serves the proxy's operational endpoints on a separate
// listener, never on a traffic port:
//
//	/ready         200 once the first config is applied, 503 before and while draining
//	/healthz       200 while the process is alive
//	/config_dump   the config being served, with private keys redacted
//	/metrics       Prometheus metrics
//	/debug/pprof/  Go profiling
package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// ConfigSource returns the config being served, nil before the first one.
type ConfigSource interface {
	Current() *config.Config
}

// Admin is the admin HTTP handler and the readiness state.
type Admin struct {
	configs  ConfigSource
	gatherer prometheus.Gatherer
	draining atomic.Bool
	mux      *http.ServeMux
}

// New builds the admin handler.
func New(configs ConfigSource, gatherer prometheus.Gatherer) *Admin {
	a := &Admin{configs: configs, gatherer: gatherer, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /ready", a.ready)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /config_dump", a.configDump)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	a.mux.HandleFunc("/debug/pprof/", pprof.Index)
	a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return a
}

// ServeHTTP serves the admin endpoints.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// SetDraining fails readiness from now on, so load balancers stop sending
// new traffic before the proxy shuts its listeners.
func (a *Admin) SetDraining() { a.draining.Store(true) }

// Ready reports what /ready answers.
func (a *Admin) Ready() bool { return !a.draining.Load() && a.configs.Current() != nil }

func (a *Admin) ready(w http.ResponseWriter, _ *http.Request) {
	switch {
	case a.draining.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
	case a.configs.Current() == nil:
		http.Error(w, "no config applied yet", http.StatusServiceUnavailable)
	default:
		w.Write([]byte("ready\n"))
	}
}

func (a *Admin) configDump(w http.ResponseWriter, _ *http.Request) {
	c := a.configs.Current()
	if c == nil {
		http.Error(w, "no config applied yet", http.StatusServiceUnavailable)
		return
	}
	// Encode before writing, so a config that does not encode is a 500, not a cut-off body.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c.Redacted()); err != nil {
		http.Error(w, "encoding config: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}
