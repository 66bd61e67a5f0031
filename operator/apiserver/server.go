package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry/effectiveconfig"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry/proxystatus"
)

// Options are the flags of the aggregated API server.
type Options struct {
	SecureServing  *genericoptions.SecureServingOptionsWithLoopback
	Authentication *genericoptions.DelegatingAuthenticationOptions
	Authorization  *genericoptions.DelegatingAuthorizationOptions
	Features       *genericoptions.FeatureOptions

	// Kubeconfig reaches the kube-apiserver for TokenReviews, SubjectAccessReviews and the
	// extension-apiserver-authentication ConfigMap. Empty uses the in-cluster config.
	Kubeconfig string
	// CertDNSNames and CertIPs go into the self-signed serving certificate generated when no
	// certificate files are given (tests, or a first start before cert-controller wrote one).
	CertDNSNames []string
	CertIPs      []net.IP
}

// NewOptions returns the defaults: port 8443, self-signed certificate unless --tls-cert-file
// is set, delegated authentication and authorization, API priority and fairness off (this
// server has no core client and nothing to queue for: it serves from memory).
func NewOptions() *Options {
	o := &Options{
		SecureServing:  genericoptions.NewSecureServingOptions().WithLoopback(),
		Authentication: genericoptions.NewDelegatingAuthenticationOptions(),
		Authorization:  genericoptions.NewDelegatingAuthorizationOptions(),
		Features:       genericoptions.NewFeatureOptions(),
	}
	o.SecureServing.BindPort = 8443
	o.SecureServing.ServerCert.PairName = "apiserver"
	o.Features.EnablePriorityAndFairness = false
	o.Features.EnableProfiling = false
	return o
}

// AddFlags registers the flags of the apiserver library (--secure-port, --tls-cert-file,
// --authentication-kubeconfig, ...) with a "views-" prefix, so they cannot collide with the
// operator's other servers (webhook, metrics, xDS): --views-secure-port,
// --views-tls-cert-file, --views-tls-private-key-file, --views-kubeconfig, ...
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	lib := pflag.NewFlagSet("views", pflag.ContinueOnError)
	o.SecureServing.AddFlags(lib)
	o.Authentication.AddFlags(lib)
	o.Authorization.AddFlags(lib)
	lib.VisitAll(func(f *pflag.Flag) {
		f.Name, f.Shorthand = "views-"+f.Name, ""
		fs.AddFlag(f)
	})
	fs.StringVar(&o.Kubeconfig, "views-kubeconfig", o.Kubeconfig,
		"kubeconfig for delegated authentication and authorization of the views API; empty uses the in-cluster config")
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	errs = append(errs, o.Features.Validate()...)
	if o.Features.EnablePriorityAndFairness {
		errs = append(errs, errors.New("priority and fairness needs a core client this server does not have: leave it off"))
	}
	return utilerrors.NewAggregate(errs)
}

// Config is a completed server configuration.
type Config struct {
	Generic *genericapiserver.RecommendedConfig
	Views   *Views
}

// Config builds the server configuration. It generates a self-signed certificate when no
// certificate is configured, and reads the requestheader and client CA from the
// kube-system/extension-apiserver-authentication ConfigMap.
func (o *Options) Config(views *Views) (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Kubeconfig != "" {
		if o.Authentication.RemoteKubeConfigFile == "" {
			o.Authentication.RemoteKubeConfigFile = o.Kubeconfig
		}
		if o.Authorization.RemoteKubeConfigFile == "" {
			o.Authorization.RemoteKubeConfigFile = o.Kubeconfig
		}
	}
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", o.CertDNSNames, o.CertIPs); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}

	cfg := genericapiserver.NewRecommendedConfig(Codecs)
	cfg.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()

	cfg.OpenAPIConfig, cfg.OpenAPIV3Config = openAPIConfigs()

	if err := o.SecureServing.ApplyTo(&cfg.SecureServing, &cfg.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	if err := o.Authentication.ApplyTo(&cfg.Authentication, cfg.SecureServing, cfg.OpenAPIConfig); err != nil {
		return nil, fmt.Errorf("delegated authentication (needs RBAC to read kube-system/extension-apiserver-authentication and create tokenreviews): %w", err)
	}
	if err := o.Authorization.ApplyTo(&cfg.Authorization); err != nil {
		return nil, fmt.Errorf("delegated authorization (needs RBAC to create subjectaccessreviews): %w", err)
	}
	if err := o.Features.ApplyTo(&cfg.Config, nil, nil); err != nil {
		return nil, err
	}
	return &Config{Generic: cfg, Views: views}, nil
}

// Server is the aggregated API server for views.agentgateway.dev.
type Server struct {
	*genericapiserver.GenericAPIServer
}

// New builds the server and installs the views group.
func (c *Config) New() (*Server, error) {
	gs, err := c.Generic.Complete().New("agentgateway-views", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	info := genericapiserver.NewDefaultAPIGroupInfo(viewsv1a1.GroupName, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	info.VersionedResourcesStorageMap[viewsv1a1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		effectiveconfig.Resource:           effectiveconfig.NewREST(c.Views.EffectiveConfigs),
		effectiveconfig.ExplainSubresource: &effectiveconfig.ExplainREST{Configs: c.Views.Config},
		proxystatus.Resource:               proxystatus.NewREST(c.Views.ProxyStatuses),
	}
	if err := gs.InstallAPIGroup(&info); err != nil {
		return nil, fmt.Errorf("install %s: %w", viewsv1a1.GroupName, err)
	}
	return &Server{GenericAPIServer: gs}, nil
}

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	return s.PrepareRun().RunWithContext(ctx)
}

// Serve builds the server, installs the peer endpoint for replica self (the operator pod's
// name; empty skips it) and serves until ctx is done. It is what the operator's main calls.
func Serve(ctx context.Context, o *Options, views *Views, self string) error {
	cfg, err := o.Config(views)
	if err != nil {
		return err
	}
	srv, err := cfg.New()
	if err != nil {
		return err
	}
	if self != "" {
		srv.InstallPeerEndpoint(views, self)
	}
	return srv.Run(ctx)
}
