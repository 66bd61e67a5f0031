package translate

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"sort"
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

// resolveXBackend resolves a backendRef to an XBackend, spoken to in spec.protocol with TLS
// per spec.tls. Type ExternalHostname is one endpoint, spec.externalHostname.hostname at
// spec.port.number; type EndpointSelector is every ready, not terminating Pod of the
// XBackend's namespace that spec.endpointSelector selects, at spec.port.number. The
// backendRef must not carry a port (the XBackend has it).
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
	if sp.Port.Number < 1 || sp.Port.Number > 65535 {
		return unsupported("spec.port.number %d is not a port", sp.Port.Number)
	}
	b := &backendIR{target: ObjectKey{Group: gwxv1a1.GroupName, Kind: xBackendKind, Namespace: ns, Name: name}, port: int32(sp.Port.Number), mode: mode}
	b.cfg.Name = cname
	switch sp.Type {
	case gwxv1a1.BackendTypeExternalHostname:
		if sp.ExternalHostname == nil || sp.ExternalHostname.Hostname == "" {
			return unsupported("type ExternalHostname needs spec.externalHostname.hostname")
		}
		if sp.SessionPersistence != nil {
			return unsupported("spec.sessionPersistence needs type EndpointSelector")
		}
		host := string(sp.ExternalHostname.Hostname)
		b.cfg.Endpoints = []config.Endpoint{{Address: net.JoinHostPort(host, strconv.Itoa(int(sp.Port.Number)))}}
	case gwxv1a1.BackendTypeEndpointSelector:
		if XBackendSelector(xb) == nil {
			return unsupported("type EndpointSelector needs spec.endpointSelector.matchLabels with at least one label")
		}
		if p := sessionPersistenceProblem(sp.SessionPersistence); p != "" {
			return unsupported("spec.%s", p)
		}
		b.session = sessionPersistence(sp.SessionPersistence)
		b.cfg.Endpoints = t.selectedEndpoints(xb)
	default:
		return unsupported("type %q is not supported; use ExternalHostname or EndpointSelector", sp.Type)
	}
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

// XBackendSelector is the label selector of an XBackend of type EndpointSelector, or nil
// for any other XBackend and for one that names no label (the CRD requires one).
func XBackendSelector(xb *gwxv1a1.XBackend) map[string]string {
	sp := &xb.Spec
	if sp.Type != gwxv1a1.BackendTypeEndpointSelector || sp.EndpointSelector == nil || len(sp.EndpointSelector.MatchLabels) == 0 {
		return nil
	}
	out := make(map[string]string, len(sp.EndpointSelector.MatchLabels))
	for k, v := range sp.EndpointSelector.MatchLabels {
		out[string(k)] = string(v)
	}
	return out
}

// XBackendSelects says whether xb is of type EndpointSelector and its selector matches a Pod
// (of xb's namespace) with these labels.
func XBackendSelects(xb *gwxv1a1.XBackend, podLabels map[string]string) bool {
	sp := &xb.Spec
	if sp.Type != gwxv1a1.BackendTypeEndpointSelector || sp.EndpointSelector == nil || len(sp.EndpointSelector.MatchLabels) == 0 {
		return false
	}
	for k, v := range sp.EndpointSelector.MatchLabels {
		if got, ok := podLabels[string(k)]; !ok || got != string(v) {
			return false
		}
	}
	return true
}

// PodReady says whether a Pod can take traffic: its Ready condition is True and it is not
// being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// selectedEndpoints are the endpoints of an EndpointSelector XBackend: the primary IP of
// every ready Pod of its namespace its selector matches, at spec.port.number, in address
// order. A dual-stack Pod is one endpoint (its first IP), so that it takes the same share of
// traffic as a single-stack one.
func (t *translator) selectedEndpoints(xb *gwxv1a1.XBackend) []config.Endpoint {
	port := strconv.Itoa(int(xb.Spec.Port.Number))
	var out []config.Endpoint
	for _, p := range t.ix.pods[xb.Namespace] {
		if len(p.Status.PodIPs) == 0 || !PodReady(p) || !XBackendSelects(xb, p.Labels) {
			continue
		}
		out = append(out, config.Endpoint{Address: net.JoinHostPort(p.Status.PodIPs[0].IP, port)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return slices.CompactFunc(out, func(a, b config.Endpoint) bool { return a.Address == b.Address })
}

// xbackendSession carries out the sessionPersistence of the XBackends out's backendRefs
// name: it becomes the rule's, which pins a client to one of the XBackend's endpoints. The
// proxy keeps sessions per rule, so an XBackend's sessionPersistence works only when the
// XBackend is its rule's only backendRef and the rule sets no sessionPersistence itself;
// otherwise the backendRef is refused (ResolvedRefs=False UnsupportedValue, 500), not
// served without the stickiness it asks for.
func (t *translator) xbackendSession(r *routeIR, out *config.HTTPRouteRule) {
	for i := range out.BackendRefs {
		ref := &out.BackendRefs[i]
		b := t.backends[ref.Backend]
		if ref.Backend == "" || b == nil || b.session == nil {
			continue
		}
		var why string
		switch {
		case len(out.BackendRefs) > 1:
			why = "spec.sessionPersistence needs the XBackend to be its rule's only backendRef"
		case out.SessionPersistence != nil:
			why = "spec.sessionPersistence conflicts with the rule's own sessionPersistence; set it in one place"
		default:
			sp := *b.session
			out.SessionPersistence = &sp
			continue
		}
		msg := fmt.Sprintf("XBackend %s/%s: %s", b.target.Namespace, b.target.Name, why)
		r.resolved.fail(string(gwv1.RouteConditionResolvedRefs), reasonUnsupportedValue, msg)
		*ref = config.BackendRef{Weight: ref.Weight, Invalid: msg}
	}
}

// maxXBackendAncestors is the most status.ancestors entries the XBackend CRD takes.
const maxXBackendAncestors = 32

// XBackendResult is the status of one XBackend that routes attached to our Gateways name:
// one ancestor per such Gateway.
type XBackendResult struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	// Ancestors are status.ancestors entries written by us, sorted by Gateway, each with
	// ControllerName set and conditions Accepted and ResolvedRefs.
	Ancestors []gwxv1a1.BackendAncestorStatus `json:"ancestors"`
}

// xbackendStatuses reports every XBackend that an HTTPRoute or GRPCRoute attached to one of
// our Gateways names, with that Gateway as ancestor. Only backendRefs that reach the
// XBackend count (no port, an allowed namespace, a route kind that may name it); how the
// route's reference itself fails is the route's status. The XBackend's own verdict is
// Accepted=False UnsupportedValue for a field or combination this implementation does not
// serve, ResolvedRefs=False with the reason when its TLS references cannot be used, both
// True otherwise. Were the verdicts of two routes on one Gateway ever to differ (by route
// kind), the refusal is reported.
func (t *translator) xbackendStatuses() {
	if len(t.ix.xbackends) == 0 {
		return
	}
	verdicts := map[nsName]map[nsName]*refError{} // XBackend -> Gateway -> refusal (nil: none)
	note := func(r *routeIR, ref gwv1.BackendObjectReference, mode backendMode) {
		if string(deref(ref.Group, "")) != gwxv1a1.GroupName || string(deref(ref.Kind, "")) != xBackendKind || ref.Port != nil {
			return
		}
		ns := r.meta.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		k := nsName{ns, string(ref.Name)}
		if t.ix.xbackends[k] == nil || !t.referenceAllowed(gwv1.GroupName, r.key.Kind, r.meta.Namespace, gwxv1a1.GroupName, xBackendKind, k.ns, k.name) {
			return
		}
		_, err := t.resolveXBackend(k.ns, k.name, nil, mode)
		m := verdicts[k]
		if m == nil {
			m = map[nsName]*refError{}
			verdicts[k] = m
		}
		for _, a := range r.attachments {
			gw := a.listener.gw.key
			if prev, seen := m[gw]; !seen || prev == nil {
				m[gw] = err
			}
		}
	}
	for _, r := range t.routes {
		if len(r.attachments) == 0 {
			continue
		}
		switch {
		case r.http != nil:
			for i := range r.http.Spec.Rules {
				for _, br := range r.http.Spec.Rules[i].BackendRefs {
					note(r, br.BackendObjectReference, modeHTTP)
				}
			}
		case r.grpc != nil:
			for i := range r.grpc.Spec.Rules {
				for _, br := range r.grpc.Spec.Rules[i].BackendRefs {
					note(r, br.BackendObjectReference, modeGRPC)
				}
			}
		}
	}
	keys := make([]nsName, 0, len(verdicts))
	for k := range verdicts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		xb := t.ix.xbackends[k]
		gws := make([]nsName, 0, len(verdicts[k]))
		for gw := range verdicts[k] {
			gws = append(gws, gw)
		}
		sort.Slice(gws, func(i, j int) bool { return gws[i].String() < gws[j].String() })
		out := XBackendResult{Namespace: k.ns, Name: k.name, Generation: xb.Generation}
		for _, gw := range gws {
			err := verdicts[k][gw]
			c := newConds(xb.Generation)
			switch {
			case err == nil:
				c.set(string(gwxv1a1.BackendConditionAccepted), true, string(gwxv1a1.BackendReasonAccepted), "")
				c.set(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "")
			case err.reason == reasonUnsupportedValue:
				c.set(string(gwxv1a1.BackendConditionAccepted), false, err.reason, err.msg)
				c.set(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "")
			default:
				c.set(string(gwxv1a1.BackendConditionAccepted), true, string(gwxv1a1.BackendReasonAccepted), "")
				c.set(string(gwv1.RouteConditionResolvedRefs), false, err.reason, err.msg)
			}
			out.Ancestors = append(out.Ancestors, gwxv1a1.BackendAncestorStatus{
				AncestorRef: gatewayParentRef(gw), ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.list(),
			})
		}
		if len(out.Ancestors) > maxXBackendAncestors {
			out.Ancestors = out.Ancestors[:maxXBackendAncestors]
		}
		t.res.XBackends = append(t.res.XBackends, out)
	}
}
