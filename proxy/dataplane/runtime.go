// Package dataplane serves a proxy config: it opens one socket per Bind,
// compiles the config into an immutable handler graph and swaps graphs
// atomically on reload.
//
// A reload (Apply) builds the config's generation beside the serving one
// (generation.go): it validates the config, compiles every route, TLS
// setting and backend into a new graph and opens the sockets of new binds
// without touching the running generation. Then it either publishes the
// graph with one atomic store and shuts down binds that disappeared (they
// drain for Options.DrainTimeout), or, when any step failed, discards all
// it built. Binds whose identity (name, address, port, protocol, HTTP/3)
// is unchanged keep their socket and connections; a bind replacing one on
// the same address keeps the socket (txn_socket.go); requests already
// running finish on the graph they started with.
package dataplane

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/policy/localratelimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/retrybudget"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// Options tune the runtime. Zero values take the defaults documented on
// each field.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the runtime metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// DrainTimeout is how long a removed bind (and the whole proxy on
	// Shutdown) lets open requests finish. Default 30s.
	DrainTimeout time.Duration
	// MaxHeaderBytes bounds request headers. Default 64 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading request headers (slowloris).
	// Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections. Default 120s.
	IdleTimeout time.Duration
	// MaxConcurrentStreams bounds HTTP/2 streams per client connection.
	// Default 1000.
	MaxConcurrentStreams int
	// MirrorConcurrency bounds in-flight mirrored requests; more are
	// dropped. Default 256.
	MirrorConcurrency int
	// AccessLog writes one JSON line per HTTP request and L4 session to
	// AccessLogOutput when true (accesslog.go). Listeners with a policy
	// access log write their lines either way.
	AccessLog bool
	// AccessLogOutput receives the access-log lines. Default os.Stdout.
	AccessLogOutput io.Writer
	// Gateway names the Gateway served ("namespace/name") in access logs.
	Gateway string
	// DisableFastPath serves cleartext HTTP/1.1 with net/http only,
	// instead of the fast path (fastpath.go) for plain proxied requests.
	DisableFastPath bool
	// RequestBodyTimeout, ResponseHeaderTimeout and MaxConnections are
	// the limits of limits.go (defaults there); a negative timeout is
	// none.
	RequestBodyTimeout, ResponseHeaderTimeout time.Duration
	MaxConnections                            int
}

func (o *Options) complete() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 1000
	}
	if o.MirrorConcurrency == 0 {
		o.MirrorConcurrency = 256
	}
	if o.AccessLogOutput == nil {
		o.AccessLogOutput = os.Stdout
	}
	o.completeLimits()
}

// Runtime owns the binds and the current graph.
type Runtime struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	pool    *upstream.Pool
	slots   chan struct{}
	limits  *localratelimit.Set
	budgets *retrybudget.Set // retry budgets (retry.go)
	authz   *callout.Conns   // gRPC connections of ext auth and global rate limits
	mcp     mcpGateways      // MCP gateways of MCP backends (mcp.go)
	routes  routeCache       // compiled routes of the serving config (routecache.go)
	// genMetrics describe the serving generation (generation.go).
	genMetrics *generationMetrics
	// building holds, while Apply opens sockets, those of the binds it
	// drops (txn_socket.go).
	building *handover
	// conns caps the client connections (limits.go).
	conns *connLimiter
	// exporters send the spans of traced listeners (tracing.go).
	exporters *exporterSet
	// accessOut writes the access log (accesslog_writer.go).
	accessOut *logWriter

	graph atomic.Pointer[graph]

	mu       sync.Mutex // serializes Apply and Shutdown
	servers  map[string]*server
	draining sync.WaitGroup
	closed   bool
}

// New returns a runtime serving nothing until the first Apply.
func New(opts Options) *Runtime {
	opts.complete()
	rt := &Runtime{
		opts:       opts,
		log:        opts.Logger,
		metrics:    newMetrics(opts.Registerer),
		pool:       upstream.NewPool(),
		slots:      make(chan struct{}, opts.MirrorConcurrency),
		limits:     localratelimit.NewSet(),
		budgets:    retrybudget.NewSet(),
		authz:      callout.NewConns(),
		genMetrics: newGenerationMetrics(opts.Registerer),
		servers:    map[string]*server{},
		conns:      newConnLimiter(opts.MaxConnections, opts.Registerer),
		accessOut:  newAccessOutput(opts.AccessLogOutput, opts.Registerer),
	}
	rt.graph.Store(&graph{config: &config.Config{}, binds: map[string]*bindState{}})
	rt.exporters = newExporterSet(opts.Registerer, func(name string) *upstream.Backend { return rt.graph.Load().backends[name] })
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(newEndpointStates(rt))
	}
	return rt
}

// Metrics returns the runtime's collectors.
func (rt *Runtime) Metrics() *Metrics { return rt.metrics }

// Current returns the config being served (nil before the first Apply).
// Callers must not modify it.
func (rt *Runtime) Current() *config.Config {
	c := rt.graph.Load().config
	if c.Version == "" {
		return nil
	}
	return c
}

// Addr returns the address a bind listens on, or nil.
func (rt *Runtime) Addr(bind string) net.Addr {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s := rt.servers[bind]
	switch {
	case s == nil:
		return nil
	case s.ln != nil:
		return s.ln.Addr()
	case s.pc != nil:
		return s.pc.LocalAddr()
	}
	return nil
}

// ErrClosed is returned by Apply after Shutdown.
var ErrClosed = errors.New("runtime is shut down")

// Apply validates, compiles and starts serving c. On error nothing
// changes: the serving config, its sockets, connections and state stay as
// they were, and the reload counts as failed.
func (rt *Runtime) Apply(c *config.Config) error { return rt.apply(c, "", nil) }

// ApplyDelta is Apply for c rebuilt from the config of version base and a delta
// (configdelta.Apply): the HTTP routes of c for which unchanged(bind, listener, routeKey)
// is true are base's. When base is the version serving, those routes are known to equal
// the route cache's copies and are not compared with them again, which was most of the
// work of applying a config in which one route of thousands changed
// (BenchmarkProxyApply/<n>/whole and .../delta in hack/bench/routes measure the two).
// Otherwise it is Apply.
func (rt *Runtime) ApplyDelta(c *config.Config, base string, unchanged func(bind, listener, routeKey string) bool) error {
	return rt.apply(c, base, unchanged)
}

func (rt *Runtime) apply(c *config.Config, base string, unchanged func(bind, listener, routeKey string) bool) (err error) {
	defer func() {
		if err != nil {
			rt.metrics.Reloads.WithLabelValues("failed").Inc()
		} else {
			rt.metrics.Reloads.WithLabelValues("ok").Inc()
		}
	}()
	// Apply calls are serialized: a generation is built from the serving
	// one and the sets it will replace.
	rt.mu.Lock()
	defer rt.mu.Unlock()
	gen, err := rt.prepare(c, base, unchanged)
	if err != nil {
		return err
	}
	old := rt.commit(gen)
	if old.config.Version != "" && old.config.Version != c.Version {
		rt.metrics.ConfigInfo.DeleteLabelValues(old.config.Version)
	}
	rt.metrics.ConfigInfo.WithLabelValues(c.Version).Set(1)
	rt.metrics.ActiveListeners.Set(float64(len(rt.servers)))
	rt.log.Info("config applied", "version", c.Version, "generation", gen.number, "binds", len(c.Binds), "backends", len(c.Backends),
		"opened", len(gen.opened), "stopped", len(gen.retired))
	return nil
}

func (s *server) closeSocket() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.h3pc != nil {
		s.h3pc.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
}

func bindByName(c *config.Config, name string) *config.Bind {
	for i := range c.Binds {
		if c.Binds[i].Name == name {
			return &c.Binds[i]
		}
	}
	return nil
}

// drain shuts a removed server down in the background. A server that
// never started serving only has its socket closed.
func (rt *Runtime) drain(s *server) {
	if s.stopped {
		return
	}
	rt.draining.Add(1)
	go func() {
		defer rt.draining.Done()
		ctx, cancel := context.WithTimeout(context.Background(), rt.opts.DrainTimeout)
		defer cancel()
		s.shutdown(ctx)
	}()
}

// Shutdown stops accepting on every bind and waits up to ctx for open
// requests to finish, then closes what is left.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.mu.Lock()
	rt.closed = true
	servers := rt.servers
	rt.servers = map[string]*server{}
	rt.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.shutdown(ctx)
		}()
	}
	wg.Wait()
	rt.draining.Wait()
	rt.mu.Lock()
	authz, exporters := rt.authz, rt.exporters
	rt.mu.Unlock()
	authz.CloseAll()
	rt.mu.Lock()
	rt.mcp.closeAll()
	rt.mu.Unlock()
	exporters.closeAll() // sends the spans of the last requests
	rt.pool.Close()      // stops the backends' health checks
	rt.metrics.ActiveListeners.Set(0)
	rt.accessOut.close() // the lines of the requests that just ended
	return ctx.Err()
}
