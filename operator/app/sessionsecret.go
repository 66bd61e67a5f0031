package app

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// SessionSecretName is the Secret, in the operator's namespace, whose key
	// SessionSecretKey holds the secret that MCP session keys are derived from.
	SessionSecretName = "agentgateway-session-secret"
	// SessionSecretKey is the Secret's data key.
	SessionSecretKey = "secret"
	sessionSecretLen = 32
)

// loadSessionSecret returns c.SessionSecret, else the secret of Secret SessionSecretName in
// c.Namespace (created with 32 random bytes when missing: replicas that race to create it
// all read the one that won), else, without a namespace, a random secret of this process.
func loadSessionSecret(ctx context.Context, restCfg *rest.Config, c *Config) ([]byte, error) {
	if c.SessionSecret != nil {
		return c.SessionSecret, nil
	}
	if c.Namespace == "" {
		return randomSecret()
	}
	direct, err := client.New(restCfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return sessionSecret(ctx, direct, types.NamespacedName{Namespace: c.Namespace, Name: SessionSecretName})
}

func sessionSecret(ctx context.Context, c client.Client, key types.NamespacedName) ([]byte, error) {
	for attempt := 0; attempt < 2; attempt++ {
		var s corev1.Secret
		err := c.Get(ctx, key, &s)
		if err == nil {
			v := s.Data[SessionSecretKey]
			if len(v) < sessionSecretLen {
				return nil, fmt.Errorf("secret %s: key %q holds %d bytes, need at least %d", key, SessionSecretKey, len(v), sessionSecretLen)
			}
			return v, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read secret %s: %w", key, err)
		}
		v, err := randomSecret()
		if err != nil {
			return nil, err
		}
		err = c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{SessionSecretKey: v},
		})
		if err == nil {
			return v, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create secret %s: %w", key, err)
		}
		// Another replica created it first: read theirs.
	}
	return nil, fmt.Errorf("secret %s: created and deleted while being read", key)
}

func randomSecret() ([]byte, error) {
	v := make([]byte, sessionSecretLen)
	if _, err := rand.Read(v); err != nil {
		return nil, fmt.Errorf("session secret: %w", err)
	}
	return v, nil
}
