package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/agentgateway/agentgateway-go/proxy/admin"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
	"github.com/agentgateway/agentgateway-go/proxy/source"
)

// options are the command-line settings.
type options struct {
	configPath      string
	xdsAddr         string
	xdsCAFile       string
	gateway         string
	podName         string
	podNamespace    string
	tokenFile       string
	adminAddr       string
	healthAddr      string
	metricsAddr     string
	pollInterval    time.Duration
	drainPeriod     time.Duration
	drainTimeout    time.Duration
	logLevel        slog.Level
	logFormat       string
	accessLog       bool
	disableFastPath bool
	limits          *limitFlags // limits.go
	// endDrain, when closed, ends the drain period early (tests).
	endDrain chan struct{}
	// logOut receives the log instead of stderr when set (tests wait for what it says).
	logOut io.Writer
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.StringVar(&o.configPath, "config", "", "path of a YAML/JSON config file, reloaded when it changes")
	fs.StringVar(&o.xdsAddr, "xds-address", "", "host:port of the operator's config server (proxy/configstream); replaces --config")
	fs.StringVar(&o.xdsAddr, "xds-addr", "", "alias of --xds-address")
	fs.StringVar(&o.xdsCAFile, "xds-ca-file", "", "PEM CA bundle the config server's certificate must chain to, for the host of --xds-address (required with it: the stream is TLS only); read again on every connection")
	fs.StringVar(&o.gateway, "gateway", os.Getenv("GATEWAY_NAME"), "name of the Gateway this proxy serves (with --xds-addr; default $GATEWAY_NAME)")
	fs.StringVar(&o.podName, "pod-name", os.Getenv("POD_NAME"), "this pod's name (with --xds-addr; default $POD_NAME)")
	fs.StringVar(&o.podNamespace, "pod-namespace", os.Getenv("POD_NAMESPACE"), "this pod's and the Gateway's namespace (with --xds-addr; default $POD_NAMESPACE)")
	fs.StringVar(&o.tokenFile, "token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "ServiceAccount token presented to the config server (with --xds-addr)")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:15000", "address of the admin server (/config_dump, /debug/pprof, and /ready, /healthz, /metrics); keep it on loopback")
	fs.StringVar(&o.healthAddr, "health-addr", "0.0.0.0:15021", "address serving only /healthz and /ready, for the kubelet (empty: not served)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "0.0.0.0:15020", "address serving only /metrics, for Prometheus (empty: not served)")
	fs.DurationVar(&o.pollInterval, "config-poll-interval", time.Second, "how often the config file is checked for changes")
	fs.DurationVar(&o.drainPeriod, "drain-period", 5*time.Second, "on SIGTERM, how long readiness fails before listeners close (lets load balancers notice)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Second, "how long open requests may run after listeners close")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&o.accessLog, "access-log", true, "write one JSON line per HTTP request and TCP/TLS/UDP session to stdout (--access-log=false: only listeners whose policy has an access log)")
	fs.BoolVar(&o.disableFastPath, "disable-fast-path", false, "serve cleartext HTTP/1.1 with net/http only (no HTTP/1.1 fast path)")
	o.limits = addLimitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := cmp.Or(o.validate(), o.limits.validate()); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) validate() error {
	switch {
	case o.configPath == "" && o.xdsAddr == "":
		return errors.New("set --config (a file) or --xds-address (the operator's config server)")
	case o.configPath != "" && o.xdsAddr != "":
		return errors.New("--config and --xds-address are exclusive: a proxy has one config source")
	case o.xdsAddr != "" && (o.gateway == "" || o.podName == "" || o.podNamespace == ""):
		return errors.New("--xds-address needs --gateway, --pod-name and --pod-namespace (or GATEWAY_NAME, POD_NAME, POD_NAMESPACE)")
	case o.xdsAddr != "" && o.xdsCAFile == "":
		return errors.New("--xds-address needs --xds-ca-file: the config stream carries private keys and API keys and is only opened over TLS verified against the operator's CA")
	case o.logFormat != "text" && o.logFormat != "json":
		return fmt.Errorf("--log-format must be text or json, got %q", o.logFormat)
	case o.pollInterval <= 0:
		return errors.New("--config-poll-interval must be positive")
	case o.drainPeriod < 0 || o.drainTimeout < 0:
		return errors.New("--drain-period and --drain-timeout must not be negative")
	}
	return nil
}

// run serves until ctx is cancelled (SIGTERM), then drains: readiness
// fails for drainPeriod, then listeners close and open requests get
// drainTimeout to finish. adminReady, if not nil, receives the admin
// address once it listens (for tests).
func run(ctx context.Context, o *options, adminReady chan<- net.Addr) error {
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	var logOut io.Writer = os.Stderr
	if o.logOut != nil {
		logOut = o.logOut
	}
	var log *slog.Logger
	if o.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(logOut, hopts))
	} else {
		log = slog.New(slog.NewTextHandler(logOut, hopts))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every series of a proxy names its Gateway (docs/metrics.md).
	var ours prometheus.Registerer = reg
	if o.gateway != "" {
		ours = prometheus.WrapRegistererWith(prometheus.Labels{"gateway": o.gateway}, reg)
	}
	rt := dataplane.New(o.limits.apply(dataplane.Options{Logger: log, Registerer: ours, DrainTimeout: o.drainTimeout, AccessLog: o.accessLog, Gateway: o.gatewayName(), DisableFastPath: o.disableFastPath}))
	adm := admin.New(rt, reg)

	adminAddr, err := serve(log, "admin", o.adminAddr, adm)
	if err != nil {
		return err
	}
	defer adminAddr.close()
	if o.healthAddr != "" {
		health, err := serve(log, "health", o.healthAddr, adm.Health())
		if err != nil {
			return err
		}
		defer health.close()
	}
	if o.metricsAddr != "" {
		metrics, err := serve(log, "metrics", o.metricsAddr, adm.Metrics())
		if err != nil {
			return err
		}
		defer metrics.close()
	}
	if adminReady != nil {
		adminReady <- adminAddr.addr
	}

	srcCtx, stopSource := context.WithCancel(context.Background())
	defer stopSource()
	srcDone := make(chan struct{})
	if o.xdsAddr != "" {
		sm := configstream.NewClientMetrics(ours)
		client := &configstream.Client{
			Address:    o.xdsAddr,
			CAFile:     o.xdsCAFile,
			Node:       configstream.Node{Pod: o.podName, Namespace: o.podNamespace, Gateway: o.gateway, BuildVersion: buildVersion()},
			Token:      configstream.TokenFile(o.tokenFile),
			Logger:     log,
			ApplyDelta: rt.ApplyDelta,
			StreamStarted: func() {
				sm.Connected.Set(1)
				adm.SetSourceError(nil)
			},
			StreamEnded: func(err error) {
				sm.Disconnects.Inc()
				sm.Connected.Set(0)
				adm.SetSourceError(err)
			},
		}
		go func() {
			defer close(srcDone)
			if err := client.Run(srcCtx, rt.Apply); err != nil {
				log.Error("config stream", "error", err)
			}
		}()
	} else {
		file := &source.File{
			Path:     o.configPath,
			Interval: o.pollInterval,
			Apply:    rt.Apply,
			Logger:   log,
			Report: func(_ string, err error) {
				// Apply counts its own outcomes; decode errors never reach it.
				if errors.Is(err, source.ErrDecode) {
					rt.Metrics().Reloads.WithLabelValues("failed").Inc()
				}
			},
		}
		go func() {
			defer close(srcDone)
			file.Run(srcCtx)
		}()
	}

	<-ctx.Done()
	log.Info("shutting down: failing readiness", "drain_period", o.drainPeriod)
	adm.SetDraining()
	stopSource()
	<-srcDone // no config is applied after this point
	select {
	case <-time.After(o.drainPeriod):
	case <-waitSecondSignal():
	case <-o.endDrain: // nil outside tests: never ready
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
	defer cancel()
	if err := rt.Shutdown(sctx); err != nil {
		log.Warn("drain timed out; closed remaining connections", "error", err)
	}
	log.Info("stopped")
	return nil
}

// server is one of the proxy's operational HTTP servers.
type server struct {
	addr net.Addr
	srv  *http.Server
}

func (s *server) close() { s.srv.Close() }

// serve serves h on addr until closed.
func serve(log *slog.Logger, name, addr string, h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" server stopped serving", "error", err)
		}
	}()
	log.Info(name+" listening", "addr", ln.Addr().String())
	return &server{addr: ln.Addr(), srv: srv}, nil
}

// buildVersion is the main module version, shown in proxystatus.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// gatewayName is the Gateway access-log lines name: "namespace/name" of
// the one served over --xds-address, "" with --config.
func (o *options) gatewayName() string {
	if o.xdsAddr == "" || o.gateway == "" {
		return ""
	}
	return o.podNamespace + "/" + o.gateway
}
