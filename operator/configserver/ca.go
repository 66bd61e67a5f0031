package configserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// CASecretName is the Secret, in the operator's namespace, holding the CA of the config
// stream: ca.crt (delivered to proxies) and ca.key (never leaves the operator namespace).
const CASecretName = "agentgateway-xds-ca"

// CA Secret keys.
const (
	CACertKey = "ca.crt"
	CAKeyKey  = "ca.key"
)

// LoadOrCreateCA reads the config stream's CA from the Secret key, generating it (and the
// Secret) when the Secret does not exist or has no CA yet. Replicas starting together may
// race to create it; the loser reads the winner's. The CA is valid for
// streamcert.CALifetime; serving certificates are short-lived and issued by every replica
// from it (streamcert.Serving), so only the CA is shared.
func LoadOrCreateCA(ctx context.Context, c client.Client, key types.NamespacedName) (*streamcert.CA, error) {
	for attempt := 0; attempt < 3; attempt++ {
		var sec corev1.Secret
		err := c.Get(ctx, key, &sec)
		switch {
		case err == nil && len(sec.Data[CACertKey]) > 0:
			ca, err := streamcert.ParseCA(sec.Data[CACertKey], sec.Data[CAKeyKey])
			if err != nil {
				return nil, fmt.Errorf("config server CA in Secret %s: %w (delete the Secret to have a new CA generated)", key, err)
			}
			return ca, nil
		case err == nil:
			// An empty Secret (pre-created by a manifest): fill it, guarded by its version.
			ca, err := streamcert.NewCA("agentgateway-xds-ca", streamcert.CALifetime)
			if err != nil {
				return nil, err
			}
			sec.Data = map[string][]byte{CACertKey: ca.CertPEM, CAKeyKey: ca.KeyPEM}
			if err := c.Update(ctx, &sec); err != nil {
				if apierrors.IsConflict(err) {
					continue
				}
				return nil, fmt.Errorf("write config server CA to Secret %s: %w", key, err)
			}
			return ca, nil
		case apierrors.IsNotFound(err):
			ca, err := streamcert.NewCA("agentgateway-xds-ca", streamcert.CALifetime)
			if err != nil {
				return nil, err
			}
			sec = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "agentgateway"}},
				Type:       corev1.SecretTypeOpaque,
				Data:       map[string][]byte{CACertKey: ca.CertPEM, CAKeyKey: ca.KeyPEM},
			}
			if err := c.Create(ctx, &sec); err != nil {
				if apierrors.IsAlreadyExists(err) {
					continue
				}
				return nil, fmt.Errorf("create config server CA Secret %s: %w", key, err)
			}
			return ca, nil
		default:
			return nil, fmt.Errorf("read config server CA Secret %s: %w", key, err)
		}
	}
	return nil, fmt.Errorf("config server CA Secret %s: changed concurrently three times; giving up", key)
}
