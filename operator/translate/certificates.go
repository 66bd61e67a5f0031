package translate

import (
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// resolveCertificates loads the certificate Secrets of every terminating listener. A ref
// that cannot be used (wrong kind, missing, not a valid key pair, cross-namespace without a
// ReferenceGrant) is reported in ResolvedRefs; a listener left with no usable certificate
// is not served (the proxy cannot terminate TLS without one) and not Programmed.
func (t *translator) resolveCertificates() {
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			t.resolveListenerCertificates(l)
		}
		t.resolveFrontendValidation(g)
		t.resolveBackendClientCertificate(g)
	}
}

func (t *translator) resolveListenerCertificates(l *listenerIR) {
	if !l.usable() || l.tls == nil || (l.tls.Mode != nil && *l.tls.Mode == gwv1.TLSModePassthrough) {
		return
	}
	fromKind := "Gateway"
	if l.set != nil {
		fromKind = "ListenerSet"
	}
	for _, ref := range l.tls.CertificateRefs {
		group, kind := "", "Secret"
		if ref.Group != nil {
			group = string(*ref.Group)
		}
		if ref.Kind != nil {
			kind = string(*ref.Kind)
		}
		ns := l.ownerNs
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		name := ns + "/" + string(ref.Name)
		if group != "" || kind != "Secret" {
			l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCertificateRef),
				fmt.Sprintf("certificateRef %s: only core Secrets are supported, got %s/%s", name, group, kind))
			continue
		}
		if !t.referenceAllowed(gwv1.GroupName, fromKind, l.ownerNs, "", "Secret", ns, string(ref.Name)) {
			l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonRefNotPermitted),
				fmt.Sprintf("certificateRef %s is in another namespace; a ReferenceGrant in %s must allow %s from %s", name, ns, fromKind, l.ownerNs))
			continue
		}
		sec := t.ix.secrets[nsName{ns, string(ref.Name)}]
		if sec == nil {
			l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("Secret %s not found", name))
			continue
		}
		cert, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCertificateRef),
				fmt.Sprintf("Secret %s does not hold a valid tls.crt/tls.key pair: %v", name, err))
			continue
		}
		l.certs = append(l.certs, config.Certificate{CertChain: string(cert), PrivateKey: string(key)})
		l.certNames = append(l.certNames, name)
	}
	if len(l.certs) == 0 {
		l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCertificateRef), "no usable certificateRefs")
		// Routes may still attach (and count), but the proxy cannot serve the listener.
		l.conds.set(condProgrammed, false, string(gwv1.ListenerReasonInvalid), "no usable TLS certificate")
	}
}

// servable says whether the proxy config should contain the listener.
func (l *listenerIR) servable() bool {
	return l.usable() && !l.conds.isFalse(condProgrammed)
}
