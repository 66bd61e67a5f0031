package webhook

import (
	"fmt"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// CertOptions says where the operator's serving certificate lives and who trusts it.
type CertOptions struct {
	// Namespace of the operator; the certificate Secret is created there.
	Namespace string
	// SecretName holds the CA and serving certificate, shared by every operator replica.
	SecretName string
	// CertDir is where the webhook server and the aggregated API read tls.crt/tls.key.
	CertDir string
	// WebhookService and APIService are the Service names the certificate must be valid for.
	WebhookService, APIService string
	// WebhookConfiguration and APIServiceName receive the CA bundle.
	WebhookConfiguration, APIServiceName string
}

// DefaultCertOptions are the names manifests/operator uses.
func DefaultCertOptions(namespace, certDir string) CertOptions {
	return CertOptions{
		Namespace:            namespace,
		SecretName:           "agentgateway-operator-certs",
		CertDir:              certDir,
		WebhookService:       "agentgateway-webhook",
		APIService:           "agentgateway-api",
		WebhookConfiguration: "agentgateway-validation",
		APIServiceName:       "v1alpha1.views.agentgateway.dev",
	}
}

// AddCertRotator generates (and before expiry rotates) the CA and serving certificate in a
// Secret, injects the CA into the webhook configuration and the APIService, and keeps
// CertDir in sync with the Secret on every replica. The returned channel closes once the
// certificate is on disk; the caller gates readiness on it, so kube-apiserver never calls a
// replica that cannot serve TLS yet.
func AddCertRotator(mgr ctrl.Manager, o CertOptions) (<-chan struct{}, error) {
	if o.Namespace == "" {
		return nil, fmt.Errorf("certificate rotation needs the operator namespace: set --namespace or POD_NAMESPACE")
	}
	// cert-controller waits for the files to appear in CertDir, as if the Secret were a
	// mounted volume. Writing them ourselves instead of mounting the Secret means a replica
	// does not wait for the kubelet's volume refresh (up to a minute) after the first
	// rotation, and works on nodes that do not refresh Secret volumes at all.
	if err := mgr.Add(&secretFiles{reader: mgr.GetAPIReader(), key: types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}, dir: o.CertDir}); err != nil {
		return nil, fmt.Errorf("set up certificate files: %w", err)
	}
	ready := make(chan struct{})
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		CertDir:        o.CertDir,
		CAName:         "agentgateway-ca",
		CAOrganization: "agentgateway-go",
		DNSName:        fmt.Sprintf("%s.%s.svc", o.WebhookService, o.Namespace),
		ExtraDNSNames: []string{
			fmt.Sprintf("%s.%s.svc.cluster.local", o.WebhookService, o.Namespace),
			fmt.Sprintf("%s.%s.svc", o.APIService, o.Namespace),
			fmt.Sprintf("%s.%s.svc.cluster.local", o.APIService, o.Namespace),
		},
		IsReady: ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: o.WebhookConfiguration, Type: rotator.Validating},
			{Name: o.APIServiceName, Type: rotator.APIService},
		},
		FieldOwner: "agentgateway-operator",
		// Every replica serves webhooks, so every replica must load the certificate; only
		// the leader writes the Secret and the CA bundles.
		RequireLeaderElection: false,
		// Rotate well before expiry; replicas pick up the new files without restarting,
		// since controller-runtime's webhook server watches CertDir.
		CaCertDuration:         10 * 365 * 24 * time.Hour,
		ServerCertDuration:     365 * 24 * time.Hour,
		RotationCheckFrequency: 12 * time.Hour,
		LookaheadInterval:      90 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("set up certificate rotation: %w", err)
	}
	return ready, nil
}
