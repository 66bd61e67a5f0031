package translate

import (
	"fmt"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// A caCertificateRef of this group and kind names a cluster-scoped ClusterTrustBundle
// (GEP-5075): its spec.trustBundle is the CA bundle, and the ref has no namespace.
const (
	trustBundleGroup = "certificates.k8s.io"
	trustBundleKind  = "ClusterTrustBundle"
)

func isTrustBundleRef(group, kind string) bool {
	return group == trustBundleGroup && kind == trustBundleKind
}

// trustBundleCAs is the PEM bundle of ClusterTrustBundle name, trimmed, or why it cannot
// be used (missing, or not a valid bundle of CA certificates).
func (t *translator) trustBundleCAs(name string) (string, error) {
	b := t.ix.trustBundle[name]
	if b == nil {
		return "", fmt.Errorf("ClusterTrustBundle %s not found", name)
	}
	if _, err := config.ParseCAs(b.Spec.TrustBundle); err != nil {
		return "", fmt.Errorf("ClusterTrustBundle %s spec.trustBundle: %w", name, err)
	}
	return strings.TrimSpace(b.Spec.TrustBundle), nil
}
