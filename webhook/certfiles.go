package webhook

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// secretFiles copies the certificate Secret's tls.crt, tls.key and ca.crt into a directory,
// on every replica. Files are replaced atomically (write, then rename) so the webhook server
// and the views server, which watch the directory, never load a half-written pair.
type secretFiles struct {
	reader client.Reader
	key    types.NamespacedName
	dir    string
	// interval between checks once the files exist; before that, checks are fast.
	interval time.Duration
}

// NeedLeaderElection is false: every replica serves TLS and needs the files.
func (*secretFiles) NeedLeaderElection() bool { return false }

// Start polls the Secret until ctx ends. Polling (one GET every interval) is cheaper to
// reason about than a namespace-wide Secret informer for a single object.
func (s *secretFiles) Start(ctx context.Context) error {
	interval := s.interval
	if interval == 0 {
		interval = 30 * time.Second
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("certificate directory %s: %w", s.dir, err)
	}
	written := false
	for {
		changed, err := s.sync(ctx)
		switch {
		case err != nil:
			log.FromContext(ctx).Error(err, "sync certificate files", "secret", s.key.String())
		case changed:
			written = true
			log.FromContext(ctx).Info("certificate files updated", "dir", s.dir)
		}
		wait := interval
		if !written {
			wait = 500 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// sync writes the files that differ from the Secret and reports whether any did.
func (s *secretFiles) sync(ctx context.Context) (bool, error) {
	var sec corev1.Secret
	if err := s.reader.Get(ctx, s.key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil // the rotator has not created it yet
		}
		return false, err
	}
	// The key is written before the certificate: the rotator's readiness check looks for
	// tls.crt, and by then the matching key must already be in place.
	changed := false
	for _, name := range []string{"ca.crt", "tls.key", "tls.crt"} {
		data := sec.Data[name]
		if len(data) == 0 {
			return changed, nil // incomplete Secret: wait for the rotator to finish it
		}
		path := filepath.Join(s.dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return changed, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}
