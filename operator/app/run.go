package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/operator/provider"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// Hooks let other parts of the operator join the same manager.
type Hooks struct {
	// Webhooks registers admission webhooks on mgr.GetWebhookServer() (port --webhook-port).
	Webhooks func(mgr manager.Manager) error
	// AggregatedAPI adds the views.agentgateway.dev server (listening on --api-bind-address)
	// as a runnable. It reads proxy state from p.ConfigServer (Proxies, AddChangeListener),
	// may set p.ConfigServer.RemoteProxies to the peers' proxies so Programmed counts acks
	// held by other replicas, and returns a function that receives every translation
	// Result (for EffectiveConfigs), or nil.
	AggregatedAPI func(mgr manager.Manager, p Pipeline, bindAddr string) (onResult func(*translate.Result), err error)
}

// Pipeline is what the hooks can reach of the running operator.
type Pipeline struct {
	ConfigServer *configserver.Server
	// Disconnected returns the running proxy pods without a config stream to any replica
	// past the grace period (--proxy-disconnect-grace). When it changes, the config
	// server's change listeners are called for the Gateways concerned.
	Disconnected func() []configserver.Disconnected
}

// SetGlobalLoggers routes controller-runtime's and client-go's (klog) process-wide loggers
// to log. Only main calls it: it is process state, and Run must stay usable in tests that
// run clients concurrently.
func SetGlobalLoggers(log *slog.Logger) {
	lr := logr.FromSlogHandler(log.Handler())
	ctrl.SetLogger(lr)
	klog.SetLogger(lr)
}

// Run runs the operator until ctx is cancelled.
func Run(ctx context.Context, c *Config) error {
	log := c.Log
	lr := logr.FromSlogHandler(log.Handler())

	restCfg := c.Rest
	if restCfg == nil {
		var err error
		if restCfg, err = ctrl.GetConfig(); err != nil {
			return fmt.Errorf("kubernetes client config: %w (run in a pod or set KUBECONFIG)", err)
		}
	}
	scheme, err := provider.NewScheme()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        lr,
		Cache:                         provider.CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: c.MetricsAddr},
		HealthProbeBindAddress:        c.HealthAddr,
		PprofBindAddress:              c.PprofAddr,
		WebhookServer:                 certWaitingServer{Server: webhook.NewServer(webhook.Options{Port: c.WebhookPort, CertDir: c.CertDir}), certFile: filepath.Join(c.CertDir, "tls.crt")},
		LeaderElection:                c.LeaderElect,
		LeaderElectionID:              "agentgateway-operator",
		LeaderElectionNamespace:       c.Namespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &c.LeaseDuration,
		GracefulShutdownTimeout:       &c.ShutdownDeadline,
		Controller:                    ctrlconfig.Controller{SkipNameValidation: &c.SkipControllerNameValidation},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	auth := c.Authenticator
	if auth == nil {
		auth = &configserver.TokenReviewer{Client: mgr.GetClient(), ServiceAccountName: deployer.ProxyName}
	}
	cs, err := configserver.New(auth, ctrlmetrics.Registry, log.With("component", "configserver"))
	if err != nil {
		return err
	}
	xdsHost, _, err := net.SplitHostPort(c.XDSAddress)
	if err != nil {
		return fmt.Errorf("--xds-address: %w", err)
	}
	// Every replica issues its own short-lived serving certificate from the shared CA, for
	// the name proxies dial and verify; streams keep their connection's certificate while
	// new connections get the renewed one.
	serving := &streamcert.Serving{Hosts: streamcert.ServiceHosts(xdsHost), Logger: log.With("component", "configserver")}
	deploy := c.Deployer
	var keeper *configserver.CAKeeper
	var prov atomic.Pointer[provider.Provider]
	if c.XDSCA != nil {
		serving.CA = c.XDSCA
		deploy.XDSCABundle = string(c.XDSCA.CertPEM)
	} else {
		if keeper, err = newCAKeeper(restCfg, c, log); err != nil {
			return err
		}
		st, err := keeper.Load(ctx)
		if err != nil {
			return err
		}
		serving.CA = st.Signing
		// The CA rotates: a new signing CA (only ever one proxies already trust) signs this
		// replica's certificate at once, and a changed bundle goes to every proxy's ConfigMap.
		keeper.OnChange = func(st configserver.CAState) {
			if !serving.Signer().Cert.Equal(st.Signing.Cert) {
				if err := serving.SetCA(st.Signing); err != nil {
					log.Error("config server certificate from the rotated CA; keeping the previous one", "error", err)
				}
			}
			if p := prov.Load(); p != nil {
				p.Trigger()
			}
		}
		deploy.XDSCABundleFunc = func() string { return string(keeper.State().Bundle) }
	}
	if err := serving.Renew(); err != nil {
		return fmt.Errorf("config server certificate: %w", err)
	}
	cs.Certificate = serving.GetCertificate
	if err := mgr.Add(everyReplica(serving.Run)); err != nil {
		return fmt.Errorf("add config server certificate renewal: %w", err)
	}
	if keeper != nil {
		if err := mgr.Add(everyReplica(keeper.Run)); err != nil {
			return fmt.Errorf("add config server CA keeper: %w", err)
		}
	}
	var xdsUp atomic.Bool
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		xdsUp.Store(true)
		defer xdsUp.Store(false)
		return cs.Run(ctx, c.XDSBindAddr)
	})); err != nil {
		return fmt.Errorf("add config server: %w", err)
	}
	disconnected, err := watchDisconnects(mgr, scheme, cs, c.DisconnectGrace, log)
	if err != nil {
		return err
	}
	var onResult func(*translate.Result)
	if c.Hooks.AggregatedAPI != nil {
		if onResult, err = c.Hooks.AggregatedAPI(mgr, Pipeline{ConfigServer: cs, Disconnected: disconnected}, c.APIBindAddr); err != nil {
			return fmt.Errorf("set up aggregated API: %w", err)
		}
	}
	sessionSecret, err := loadSessionSecret(ctx, restCfg, c)
	if err != nil {
		return err
	}
	p, err := provider.Setup(mgr, provider.Options{
		SessionSecret: sessionSecret,
		Deployer:      deploy,
		ConfigServer:  cs,
		Log:           log.With("component", "provider"),
		Registerer:    ctrlmetrics.Registry,
		OnResult:      onResult,
	})
	if err != nil {
		return fmt.Errorf("set up provider: %w", err)
	}
	prov.Store(p)
	if c.Hooks.Webhooks != nil {
		if err := c.Hooks.Webhooks(mgr); err != nil {
			return fmt.Errorf("set up webhooks: %w", err)
		}
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the cache is synced and the config server listens: a replica that cannot
	// serve proxies must not receive their connections.
	if err := mgr.AddReadyzCheck("cache", func(r *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(r.Context()) {
			return errors.New("informer caches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("xds", func(*http.Request) error {
		if !xdsUp.Load() {
			return errors.New("config server not running")
		}
		return nil
	}); err != nil {
		return err
	}

	log.Info("starting operator", "leader_elect", c.LeaderElect, "xds_bind", c.XDSBindAddr, "xds_address", c.XDSAddress, "proxy_image", c.ProxyImage)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("operator stopped: %w", err)
	}
	log.Info("operator stopped")
	return nil
}

// newCAKeeper keeps the config stream's CA Secret in c.Namespace, with a client of its
// own: the manager's cache is not running yet when the CA is first read, and only this one
// Secret is watched.
func newCAKeeper(restCfg *rest.Config, c *Config, log *slog.Logger) (*configserver.CAKeeper, error) {
	if c.Namespace == "" {
		return nil, errors.New("--namespace (or POD_NAMESPACE) is required: the config server's CA Secret lives there")
	}
	direct, err := client.NewWithWatch(restCfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &configserver.CAKeeper{
		Client:      direct,
		Key:         types.NamespacedName{Namespace: c.Namespace, Name: configserver.CASecretName},
		Lifetime:    c.XDSCALifetime,
		Propagation: c.XDSCAPropagation,
		Log:         log.With("component", "configserver-ca"),
		Published: func(ctx context.Context, cert []byte) (bool, string, error) {
			return caPublished(ctx, direct, cert)
		},
	}, nil
}

// caPublished reports whether every proxy's CA ConfigMap (deployer.XDSCAName) holds cert,
// and if not, names the first that does not.
func caPublished(ctx context.Context, c client.Reader, cert []byte) (bool, string, error) {
	var cms corev1.ConfigMapList
	if err := c.List(ctx, &cms, client.MatchingLabels{deployer.NameLabel: deployer.ProxyLabelValue}); err != nil {
		return false, "", fmt.Errorf("list proxy CA ConfigMaps: %w", err)
	}
	for _, cm := range cms.Items {
		if cm.Name != deployer.XDSCAName(cm.Labels[deployer.GatewayNameLabel]) {
			continue
		}
		if !strings.Contains(cm.Data[deployer.XDSCAKey], string(cert)) {
			return false, cm.Namespace + "/" + cm.Name, nil
		}
	}
	return true, "", nil
}

// certWaitingServer starts the webhook server only once the rotated certificate exists:
// controller-runtime's server reads it at start and stops the whole manager if it is
// missing, while the certificate rotator runs on the same manager and creates it shortly
// after start. Until then the replica is not ready, so kube-apiserver does not call it.
type certWaitingServer struct {
	webhook.Server
	certFile string
}

func (s certWaitingServer) Start(ctx context.Context) error {
	for {
		if _, err := os.Stat(s.certFile); err == nil {
			return s.Server.Start(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// everyReplica is a runnable that runs on every replica, not only the leader.
type everyReplica func(ctx context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }

func (everyReplica) NeedLeaderElection() bool { return false }
