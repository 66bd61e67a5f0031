package translate

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// xBackendKind is the experimental gateway.networking.x-k8s.io backend kind a backendRef may
// name.
const xBackendKind = "XBackend"

// reasonUnsupportedValue is the ResolvedRefs reason for an XBackend field this implementation
// does not serve.
const reasonUnsupportedValue = "UnsupportedValue"

// resolveXBackend resolves a backendRef to an XBackend of type ExternalHostname: one
// endpoint, spec.externalHostname.hostname at spec.port.number, spoken to in spec.protocol,
// with TLS per spec.tls. The backendRef must not carry a port (the XBackend has it).
func (t *translator) resolveXBackend(ns, name string, port *gwv1.PortNumber, mode backendMode) (string, *refError) {
	if mode == modeL4 || mode == modeUDP {
		return "", &refError{string(gwv1.RouteReasonInvalidKind), fmt.Sprintf("XBackend %s/%s: only HTTPRoute and GRPCRoute backendRefs may name an XBackend", ns, name)}
	}
	if port != nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("backendRef to XBackend %s/%s must not set port: the XBackend's spec.port.number is the port", ns, name)}
	}
	xb := t.ix.xbackends[nsName{ns, name}]
	if xb == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("XBackend %s/%s not found", ns, name)}
	}
	cname := "xbackend/" + ns + "/" + name + modeSuffix(mode)
	if _, ok := t.backends[cname]; ok {
		return cname, nil
	}
	sp := &xb.Spec
	unsupported := func(format string, args ...any) (string, *refError) {
		return "", &refError{reasonUnsupportedValue, fmt.Sprintf("XBackend %s/%s: ", ns, name) + fmt.Sprintf(format, args...)}
	}
	switch {
	case sp.Type != gwxv1a1.BackendTypeExternalHostname:
		return unsupported("type %q is not supported; use ExternalHostname", sp.Type)
	case sp.ExternalHostname == nil || sp.ExternalHostname.Hostname == "":
		return unsupported("type ExternalHostname needs spec.externalHostname.hostname")
	case sp.Port.Number < 1 || sp.Port.Number > 65535:
		return unsupported("spec.port.number %d is not a port", sp.Port.Number)
	case sp.SessionPersistence != nil:
		return unsupported("spec.sessionPersistence is not supported; set sessionPersistence on the route rule")
	}
	b := &backendIR{target: ObjectKey{Group: gwxv1a1.GroupName, Kind: xBackendKind, Namespace: ns, Name: name}, port: int32(sp.Port.Number), mode: mode}
	b.cfg.Name = cname
	host := string(sp.ExternalHostname.Hostname)
	b.cfg.Endpoints = []config.Endpoint{{Address: net.JoinHostPort(host, strconv.Itoa(int(sp.Port.Number)))}}
	if sp.TLS != nil && sp.TLS.Mode != gwxv1a1.BackendTLSModeNone {
		tc, rerr := t.xbackendTLS(xb)
		if rerr != nil {
			return "", rerr
		}
		b.cfg.TLS = tc
	}
	tlsOn := b.cfg.TLS != nil
	proto := gwxv1a1.BackendProtocolHTTP
	if sp.Protocol != nil {
		proto = *sp.Protocol
	}
	switch proto {
	case gwxv1a1.BackendProtocolHTTP, gwxv1a1.BackendProtocolGRPC:
		// HTTP lets the route decide: HTTP/1.1 for HTTPRoutes, HTTP/2 for GRPCRoutes.
		if mode == modeGRPC || proto == gwxv1a1.BackendProtocolGRPC {
			b.cfg.Protocol = config.BackendH2C
		}
	case gwxv1a1.BackendProtocolHTTP11:
		if mode == modeGRPC {
			return unsupported("protocol HTTP11 cannot carry gRPC (a GRPCRoute needs HTTP2, H2C, GRPC or HTTP)")
		}
	case gwxv1a1.BackendProtocolHTTP2:
		if !tlsOn {
			return unsupported("protocol HTTP2 needs spec.tls (HTTP/2 over TLS); use H2C for cleartext HTTP/2")
		}
		b.cfg.Protocol = config.BackendH2
	case gwxv1a1.BackendProtocolH2C:
		if tlsOn {
			return unsupported("protocol H2C is cleartext HTTP/2 and cannot be combined with spec.tls; use HTTP2")
		}
		b.cfg.Protocol = config.BackendH2C
	case gwxv1a1.BackendProtocolWSS:
		if !tlsOn {
			return unsupported("protocol WSS needs spec.tls")
		}
		if mode == modeGRPC {
			return unsupported("protocol WSS cannot carry gRPC")
		}
	default:
		// TCP and MCP need a different kind of backend than an HTTP or gRPC route's.
		return unsupported("protocol %s is not supported for HTTPRoute and GRPCRoute backends (use HTTP, HTTP11, HTTP2, H2C, GRPC or WSS)", proto)
	}
	if tlsOn && b.cfg.Protocol == config.BackendH2C {
		b.cfg.Protocol = config.BackendH2
	}
	t.backends[cname] = b
	return cname, nil
}

// xbackendTLS is the TLS origination of an XBackend's spec.tls (mode ServerOnly or
// ClientAndServer): the validation as a BackendTLSPolicy's, plus the client certificate.
func (t *translator) xbackendTLS(xb *gwxv1a1.XBackend) (*config.BackendTLS, *refError) {
	x := xb.Spec.TLS
	ns, name := xb.Namespace, xb.Name
	if x.Validation == nil {
		return nil, &refError{reasonUnsupportedValue, fmt.Sprintf("XBackend %s/%s: spec.tls mode %s needs spec.tls.validation", ns, name, x.Mode)}
	}
	out, rerr := t.backendTLSFromValidation(ns, x.Validation)
	if rerr != nil {
		return nil, &refError{rerr.reason, fmt.Sprintf("XBackend %s/%s spec.tls.validation: %s", ns, name, rerr.msg)}
	}
	switch x.Mode {
	case gwxv1a1.BackendTLSModeServerOnly:
		if x.ClientCertificateRef != nil {
			return nil, &refError{reasonUnsupportedValue, fmt.Sprintf("XBackend %s/%s: spec.tls.clientCertificateRef needs mode ClientAndServer", ns, name)}
		}
	case gwxv1a1.BackendTLSModeClientAndServer:
		cert, rerr := t.xbackendClientCert(xb)
		if rerr != nil {
			return nil, rerr
		}
		out.ClientCertificate = cert
	default:
		return nil, &refError{reasonUnsupportedValue, fmt.Sprintf("XBackend %s/%s: spec.tls.mode %q is not supported", ns, name, x.Mode)}
	}
	return out, nil
}

// xbackendClientCert loads spec.tls.clientCertificateRef, a kubernetes.io/tls Secret (another
// namespace's needs a ReferenceGrant from XBackends of this one).
func (t *translator) xbackendClientCert(xb *gwxv1a1.XBackend) (*config.Certificate, *refError) {
	ref := xb.Spec.TLS.ClientCertificateRef
	fail := func(reason, format string, args ...any) (*config.Certificate, *refError) {
		return nil, &refError{reason, fmt.Sprintf("XBackend %s/%s spec.tls.clientCertificateRef: ", xb.Namespace, xb.Name) + fmt.Sprintf(format, args...)}
	}
	if ref == nil {
		return fail(reasonUnsupportedValue, "mode ClientAndServer needs a client certificate")
	}
	ns := xb.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	if deref(ref.Group, "") != "" || deref(ref.Kind, "Secret") != "Secret" {
		return fail(string(gwv1.RouteReasonInvalidKind), "%s/%s must be a core Secret", ns, ref.Name)
	}
	if !t.referenceAllowed(gwxv1a1.GroupName, xBackendKind, xb.Namespace, "", "Secret", ns, string(ref.Name)) {
		return fail(string(gwv1.RouteReasonRefNotPermitted), "Secret %s/%s is in another namespace; a ReferenceGrant in %s must allow XBackend from %s", ns, ref.Name, ns, xb.Namespace)
	}
	s := t.ix.secrets[nsName{ns, string(ref.Name)}]
	if s == nil {
		return fail(string(gwv1.RouteReasonBackendNotFound), "Secret %s/%s not found", ns, ref.Name)
	}
	cert, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fail(reasonUnsupportedValue, "Secret %s/%s does not hold a valid tls.crt/tls.key pair: %v", ns, ref.Name, err)
	}
	return &config.Certificate{CertChain: string(cert), PrivateKey: string(key)}, nil
}
