// Package admin serves the proxy's operational endpoints on listeners of their own, never
// on a traffic port. Admin (every endpoint) is meant for a loopback address, since the config
// dump and profiles are for someone inside the pod; Health and Metrics are the parts the
// kubelet and Prometheus need, served on the pod IP:
//
//	/ready         200 once the first config is applied, 503 before (with the reason the
//	               config source gave, e.g. an unreachable config server) and while draining
//	/healthz       200 while the process is alive
//	/metrics       Prometheus metrics
//	/config_dump   the config being served, with private keys redacted (Admin only)
//	/debug/explain what the config being served does with a request, and why (Admin only;
//	               ?method=&host=&path=&header=Name:Value&port=&sni=, see proxy/explain)
//	/debug/pprof/  Go profiling (Admin only)
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
	"github.com/agentgateway/agentgateway-go/proxy/explain"
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
	// sourceErr is why the config source has no config to give (nil when it has).
	sourceErr            atomic.Pointer[string]
	mux, health, metrics *http.ServeMux
}

// New builds the admin handler.
func New(configs ConfigSource, gatherer prometheus.Gatherer) *Admin {
	a := &Admin{configs: configs, gatherer: gatherer, mux: http.NewServeMux(), health: http.NewServeMux(), metrics: http.NewServeMux()}
	healthz := func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }
	metrics := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	for _, m := range []*http.ServeMux{a.mux, a.health} {
		m.HandleFunc("GET /ready", a.ready)
		m.HandleFunc("GET /healthz", healthz)
	}
	for _, m := range []*http.ServeMux{a.mux, a.metrics} {
		m.Handle("GET /metrics", metrics)
	}
	a.mux.HandleFunc("GET /config_dump", a.configDump)
	a.mux.HandleFunc("GET /debug/explain", a.explain)
	a.mux.HandleFunc("/debug/pprof/", pprof.Index)
	a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return a
}

// ServeHTTP serves every admin endpoint.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Health serves /healthz and /ready only.
func (a *Admin) Health() http.Handler { return a.health }

// Metrics serves /metrics only.
func (a *Admin) Metrics() http.Handler { return a.metrics }

// SetSourceError records why the config source cannot deliver a config (nil: it can), for
// /ready to say while no config is applied.
func (a *Admin) SetSourceError(err error) {
	if err == nil {
		a.sourceErr.Store(nil)
		return
	}
	msg := err.Error()
	a.sourceErr.Store(&msg)
}

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
		msg := "no config yet"
		if reason := a.sourceErr.Load(); reason != nil {
			msg += ": " + *reason
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
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

// explain answers /debug/explain from the config being served. The admin listener is
// local, so credentials the request carries are checked too (explain.Options.Credentials).
func (a *Admin) explain(w http.ResponseWriter, r *http.Request) {
	c := a.configs.Current()
	if c == nil {
		http.Error(w, "no config applied yet", http.StatusServiceUnavailable)
		return
	}
	req, err := explain.ParseQuery(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ex, err := explain.Explain(c, req, explain.Options{Credentials: true})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ex); err != nil {
		http.Error(w, "encoding the explanation: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}
