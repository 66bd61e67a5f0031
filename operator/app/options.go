// Package app wires the operator: command-line Options are completed and validated into a
// Config, and Run starts everything on one controller-runtime manager (controllers, config
// server, health and metrics; webhooks and the aggregated API plug in through hooks).
package app

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// Options are the operator's command-line flags; names match manifests/operator.
type Options struct {
	LeaderElect      bool
	Namespace        string
	ProxyImage       string
	XDSAddress       string
	MetricsAddr      string
	HealthAddr       string
	PprofAddr        string
	XDSBindAddr      string
	WebhookPort      int
	APIBindAddr      string
	CertDir          string
	PodName          string
	DisableWebhooks  bool
	LogLevel         slog.Level
	LogFormat        string
	LeaseDuration    time.Duration
	ShutdownDeadline time.Duration
	XDSCALifetime    time.Duration
	XDSCAPropagation time.Duration
	DisconnectGrace  time.Duration
}

// AddFlags registers the flags on fs with their defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader among replicas; only the leader writes status and proxy workloads")
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace the operator runs in (leader election lease, certificates)")
	fs.StringVar(&o.ProxyImage, "proxy-image", "ghcr.io/agentgateway-go/proxy:dev", "default proxy image for Gateway Deployments")
	fs.StringVar(&o.XDSAddress, "xds-address", "", "host:port proxies dial to reach the config server, e.g. agentgateway-xds.agentgateway-system.svc:9977")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Prometheus metrics listen address (\"0\" disables)")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", "/healthz and /readyz listen address")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "", "Go profiling (/debug/pprof) listen address, e.g. 127.0.0.1:6060; empty disables it")
	fs.StringVar(&o.XDSBindAddr, "xds-bind-address", ":9977", "config server (gRPC) listen address")
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "admission webhook port")
	fs.StringVar(&o.APIBindAddr, "api-bind-address", ":8443", "aggregated API (views.agentgateway.dev) listen address")
	fs.StringVar(&o.CertDir, "cert-dir", "/var/run/agentgateway/certs", "directory the rotated webhook and views serving certificate (tls.crt, tls.key) is written to and read from")
	fs.StringVar(&o.PodName, "pod-name", os.Getenv("POD_NAME"), "this replica's pod name (names its proxies in the views API)")
	fs.BoolVar(&o.DisableWebhooks, "disable-webhooks", false, "do not serve admission webhooks or rotate their certificate (the translator still validates every policy)")
	fs.TextVar(&o.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.StringVar(&o.LogFormat, "log-format", "json", "log format: json or text")
	fs.DurationVar(&o.LeaseDuration, "leader-lease-duration", 15*time.Second, "leader election lease duration")
	fs.DurationVar(&o.ShutdownDeadline, "shutdown-deadline", 20*time.Second, "how long runnables get to stop on SIGTERM")
	fs.DurationVar(&o.XDSCALifetime, "xds-ca-lifetime", streamcert.CALifetime, "lifetime of the config stream's CAs; a next CA is added when a third is left")
	fs.DurationVar(&o.DisconnectGrace, "proxy-disconnect-grace", 30*time.Second, "how long a running proxy pod may hold no config stream before proxystatuses show it disconnected and a ConfigStreamDisconnected Event is recorded on its Gateway")
	fs.DurationVar(&o.XDSCAPropagation, "xds-ca-propagation", 5*time.Minute, "how long proxies are given to trust a next CA before it signs the config servers' certificates (it also waits until every proxy's <proxy>-xds-ca ConfigMap holds it; this covers the kubelet's refresh of the mounted file)")
}

// Validate reports every invalid option.
func (o *Options) Validate() error {
	var errs []error
	if o.LeaderElect && o.Namespace == "" {
		errs = append(errs, errors.New("--namespace (or POD_NAMESPACE) is required with --leader-elect: the lease lives there"))
	}
	if o.ProxyImage == "" {
		errs = append(errs, errors.New("--proxy-image must not be empty"))
	}
	if _, _, err := net.SplitHostPort(o.XDSAddress); err != nil {
		errs = append(errs, fmt.Errorf("--xds-address must be host:port that proxies can dial: %w", err))
	}
	if _, _, err := net.SplitHostPort(o.XDSBindAddr); err != nil {
		errs = append(errs, fmt.Errorf("--xds-bind-address: %w", err))
	}
	if o.XDSCAPropagation < 0 || o.XDSCALifetime < 0 || (o.XDSCALifetime > 0 && o.XDSCAPropagation*3 >= o.XDSCALifetime) {
		errs = append(errs, fmt.Errorf("--xds-ca-propagation %s must be positive and under a third of --xds-ca-lifetime %s (the next CA is added when a third is left)", o.XDSCAPropagation, o.XDSCALifetime))
	}
	if o.DisconnectGrace < 0 {
		errs = append(errs, fmt.Errorf("--proxy-disconnect-grace %s must not be negative", o.DisconnectGrace))
	}
	if o.LogFormat != "json" && o.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("--log-format %q: use json or text", o.LogFormat))
	}
	return errors.Join(errs...)
}

// Complete turns validated Options into a Config, reading the kubeconfig (in-cluster or
// $KUBECONFIG) when rest is nil.
func (o *Options) Complete(restCfg *rest.Config) (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var h slog.Handler
	ho := &slog.HandlerOptions{Level: o.LogLevel}
	if o.LogFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, ho)
	} else {
		h = slog.NewJSONHandler(os.Stderr, ho)
	}
	return &Config{
		Options: *o,
		Rest:    restCfg,
		Log:     slog.New(h),
		Deployer: deployer.Options{
			ProxyImage: o.ProxyImage,
			XDSAddress: o.XDSAddress,
		},
	}, nil
}

// Config is everything Run needs. Tests build one directly.
type Config struct {
	Options
	// Rest reaches the apiserver; nil means ctrl.GetConfig (in-cluster or $KUBECONFIG).
	Rest     *rest.Config
	Log      *slog.Logger
	Deployer deployer.Options
	// Authenticator checks proxy tokens; nil means a TokenReview against the apiserver.
	Authenticator configstream.Authenticator
	// XDSCA signs the config server's serving certificates and is delivered to proxies; nil
	// means the CA in the Secret configserver.CASecretName of Namespace (created if missing).
	XDSCA *streamcert.CA
	// SessionSecret seals MCP session ids (translate.Snapshot.SessionSecret); nil means the
	// Secret SessionSecretName of Namespace (created if missing), or, without a Namespace, a
	// random secret of this process.
	SessionSecret []byte
	// Hooks add the webhooks and the aggregated API; nil skips them.
	Hooks Hooks
	// SkipControllerNameValidation lets one process run the operator more than once
	// (tests); controller-runtime otherwise refuses a second controller of the same name.
	SkipControllerNameValidation bool
}
