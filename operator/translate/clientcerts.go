package translate

import (
	"crypto/tls"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// resolveFrontendValidation applies Gateway spec.tls.frontend (client certificate
// validation) to the Gateway's terminating HTTPS listeners, per port with the default as
// fallback. It runs with the certificates because both decide whether a listener can be
// served. Invalid CA refs are reported on every listener of the port; when none is usable
// the listener is not Accepted (NoValidCACertificate): serving it without the client check
// the user asked for would be a silent downgrade.
func (t *translator) resolveFrontendValidation(g *gatewayIR) {
	tc := g.gw.Spec.TLS
	if tc == nil || tc.Frontend == nil {
		return
	}
	insecure := false
	for _, l := range g.listeners {
		if l.protocol != gwv1.HTTPSProtocolType || !l.usable() {
			continue
		}
		v := tc.Frontend.Default.Validation
		for _, pp := range tc.Frontend.PerPort {
			if int32(pp.Port) == l.port {
				v = pp.TLS.Validation
			}
		}
		if v == nil {
			continue
		}
		var bundle []string
		for _, ref := range v.CACertificateRefs {
			if isTrustBundleRef(string(ref.Group), string(ref.Kind)) {
				if ref.Namespace != nil && *ref.Namespace != "" {
					l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCACertificateRef),
						fmt.Sprintf("caCertificateRef ClusterTrustBundle %s: must not set a namespace (ClusterTrustBundles are cluster-scoped)", ref.Name))
					continue
				}
				ca, err := t.trustBundleCAs(string(ref.Name))
				if err != nil {
					l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCACertificateRef), err.Error())
					continue
				}
				bundle = append(bundle, ca)
				continue
			}
			ns := g.key.ns
			if ref.Namespace != nil && *ref.Namespace != "" {
				ns = string(*ref.Namespace)
			}
			name := ns + "/" + string(ref.Name)
			if ref.Group != "" || ref.Kind != "ConfigMap" {
				l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCACertificateKind),
					fmt.Sprintf("caCertificateRef %s: only core ConfigMaps and certificates.k8s.io ClusterTrustBundles are supported, got %s/%s", name, ref.Group, ref.Kind))
				continue
			}
			if !t.referenceAllowed(gwv1.GroupName, "Gateway", g.key.ns, "", "ConfigMap", ns, string(ref.Name)) {
				l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonRefNotPermitted),
					fmt.Sprintf("caCertificateRef %s is in another namespace; a ReferenceGrant in %s must allow Gateway from %s", name, ns, g.key.ns))
				continue
			}
			cm := t.ix.configMaps[nsName{ns, string(ref.Name)}]
			if cm == nil {
				l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCACertificateRef), fmt.Sprintf("ConfigMap %s not found", name))
				continue
			}
			if _, err := config.ParseCAs(cm.Data["ca.crt"]); err != nil {
				l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidCACertificateRef), fmt.Sprintf("ConfigMap %s key ca.crt: %v", name, err))
				continue
			}
			bundle = append(bundle, strings.TrimSpace(cm.Data["ca.crt"]))
		}
		if len(bundle) == 0 {
			l.conds.set(condAccepted, false, string(gwv1.ListenerReasonNoValidCACertificate), "no usable caCertificateRefs for client certificate validation")
			l.conds.set(condProgrammed, false, string(gwv1.ListenerReasonInvalid), "no usable caCertificateRefs for client certificate validation")
			continue
		}
		mode := config.ClientValidationAllowValidOnly
		if v.Mode == gwv1.AllowInsecureFallback {
			mode = config.ClientValidationAllowInsecureFallback
			insecure = true
		}
		l.clientValidation = &config.ClientValidation{CACertificates: strings.Join(bundle, "\n") + "\n", Mode: mode}
	}
	if insecure {
		g.conds.set(string(gwv1.GatewayConditionInsecureFrontendValidationMode), true, string(gwv1.GatewayReasonConfigurationChanged),
			"client certificates are requested but not required (AllowInsecureFallback): backends must not rely on them")
	}
}

// resolveBackendClientCertificate loads Gateway spec.tls.backend.clientCertificateRef, the
// certificate the proxy presents to TLS backends that ask for one.
func (t *translator) resolveBackendClientCertificate(g *gatewayIR) {
	tc := g.gw.Spec.TLS
	if tc == nil || tc.Backend == nil || tc.Backend.ClientCertificateRef == nil {
		return
	}
	ref := tc.Backend.ClientCertificateRef
	ns := g.key.ns
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	name := ns + "/" + string(ref.Name)
	cond := string(gwv1.GatewayConditionResolvedRefs)
	fail := func(reason, msg string) { g.conds.set(cond, false, reason, msg) }
	switch {
	case deref(ref.Group, "") != "" || deref(ref.Kind, "Secret") != "Secret":
		fail(string(gwv1.GatewayReasonInvalidClientCertificateRef), fmt.Sprintf("clientCertificateRef %s must be a core Secret", name))
	case !t.referenceAllowed(gwv1.GroupName, "Gateway", g.key.ns, "", "Secret", ns, string(ref.Name)):
		fail(string(gwv1.GatewayReasonRefNotPermitted), fmt.Sprintf("clientCertificateRef %s is in another namespace; a ReferenceGrant in %s must allow Gateway from %s", name, ns, g.key.ns))
	default:
		s := t.ix.secrets[nsName{ns, string(ref.Name)}]
		if s == nil {
			fail(string(gwv1.GatewayReasonInvalidClientCertificateRef), fmt.Sprintf("Secret %s not found", name))
			return
		}
		cert, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			fail(string(gwv1.GatewayReasonInvalidClientCertificateRef), fmt.Sprintf("Secret %s does not hold a valid tls.crt/tls.key pair: %v", name, err))
			return
		}
		g.backendClientCert = &config.Certificate{CertChain: string(cert), PrivateKey: string(key)}
		g.conds.set(cond, true, string(gwv1.GatewayReasonResolvedRefs), "")
	}
}
