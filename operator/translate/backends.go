package translate

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// backendMode is how a route speaks to a backend, which decides the backend protocol.
type backendMode int

const (
	modeHTTP backendMode = iota // HTTPRoute: HTTP/1.1, or h2c by appProtocol
	modeGRPC                    // GRPCRoute: always HTTP/2
	modeL4                      // TLS/TCP routes: raw TCP
	modeUDP                     // UDPRoute: raw datagrams to the Service's UDP port
)

// backendIR is one resolved backend, shared by every Gateway that uses it.
type backendIR struct {
	cfg config.Backend
	// target is the Service or AgentgatewayBackend; port/portName the Service port. Policies
	// and BackendTLSPolicies attach to these.
	target   ObjectKey
	port     int32
	portName string
	mode     backendMode

	// invalid, when set, makes every ref to this backend answer 500: a TLS policy for it
	// cannot be honoured, and plaintext would be a silent downgrade.
	invalid string
	// policies are the AgentgatewayPolicy attachments that reach this backend; fields is
	// their merged backend section.
	policies []polAttach
	fields   merged
	// traffic is the XBackendTrafficPolicy that set the backend's retry budget, if any.
	traffic *xbtpIR
	// session is an XBackend's spec.sessionPersistence, which its rule carries out.
	session *config.SessionPersistence
}

// servicePort is a Service port as a backendRef in a mode names it.
type servicePort struct {
	ns, name string
	port     int32
	mode     backendMode
}

// refError is an unresolvable backendRef: Reason is a route ResolvedRefs reason.
type refError struct{ reason, msg string }

func (e *refError) Error() string { return e.msg }

// resolveBackend resolves one backendRef of a route (fromKind in fromNs) to a config backend
// name, creating the backend on first use. Work is proportional to the Service's
// EndpointSlices, once per translation.
func (t *translator) resolveBackend(fromKind, fromNs string, ref gwv1.BackendObjectReference, mode backendMode) (string, *refError) {
	return t.resolveBackendFrom(gwv1.GroupName, fromKind, fromNs, ref, mode)
}

// resolveBackendFrom is resolveBackend for a referrer of any group (an AgentgatewayPolicy's
// ext-auth backendRef), which is what a ReferenceGrant's from entry names.
func (t *translator) resolveBackendFrom(fromGroup, fromKind, fromNs string, ref gwv1.BackendObjectReference, mode backendMode) (string, *refError) {
	group := string(deref(ref.Group, ""))
	kind := string(deref(ref.Kind, "Service"))
	ns := fromNs
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	name := string(ref.Name)
	switch {
	case group == "" && kind == "Service":
	case group == agwv1a1.GroupName && kind == "AgentgatewayBackend":
	case group == mcsv1a1.GroupName && kind == serviceImportKind:
	case group == gwxv1a1.GroupName && kind == xBackendKind:
	default:
		return "", &refError{string(gwv1.RouteReasonInvalidKind),
			fmt.Sprintf("backendRef %s/%s %s: unsupported kind; use a Service, a multicluster.x-k8s.io ServiceImport, a gateway.networking.x-k8s.io XBackend or an agentgateway.dev AgentgatewayBackend", group, kind, name)}
	}
	if !t.referenceAllowed(fromGroup, fromKind, fromNs, group, kind, ns, name) {
		return "", &refError{string(gwv1.RouteReasonRefNotPermitted),
			fmt.Sprintf("backendRef %s %s/%s is in another namespace; a ReferenceGrant in %s must allow %s from %s", kind, ns, name, ns, fromKind, fromNs)}
	}
	switch kind {
	case "AgentgatewayBackend":
		return t.resolveAgentgatewayBackend(ns, name, mode)
	case serviceImportKind:
		return t.resolveServiceImport(ns, name, ref.Port, mode)
	case xBackendKind:
		return t.resolveXBackend(ns, name, ref.Port, mode)
	}
	return t.resolveService(ns, name, ref.Port, mode)
}

func modeSuffix(m backendMode) string {
	switch m {
	case modeGRPC:
		return "+grpc"
	case modeL4:
		return "+tcp"
	case modeUDP:
		return "+udp"
	}
	return ""
}

func (t *translator) resolveService(ns, name string, port *gwv1.PortNumber, mode backendMode) (string, *refError) {
	svc := t.ix.services[nsName{ns, name}]
	if svc == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("Service %s/%s not found", ns, name)}
	}
	if port == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("backendRef to Service %s/%s needs a port", ns, name)}
	}
	// A Service may expose one port number over TCP and UDP; pick the transport the route
	// speaks.
	want := corev1.ProtocolTCP
	if mode == modeUDP {
		want = corev1.ProtocolUDP
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if p.Port == int32(*port) && proto == want {
			sp = p
			break
		}
	}
	if sp == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("Service %s/%s has no %s port %d", ns, name, want, *port)}
	}
	// Many routes share a backend: its name is built once, not per backendRef.
	sk := servicePort{ns, name, int32(*port), mode}
	cname, ok := t.serviceBackends[sk]
	if !ok {
		cname = ns + "/" + name + ":" + strconv.Itoa(int(*port)) + modeSuffix(mode)
		if t.serviceBackends == nil {
			t.serviceBackends = map[servicePort]string{}
		}
		t.serviceBackends[sk] = cname
	}
	if _, ok := t.backends[cname]; ok {
		return cname, nil
	}
	b := newPortBackend(cname, ObjectKey{Kind: "Service", Namespace: ns, Name: name}, sp, mode)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		b.cfg.Endpoints = []config.Endpoint{{Address: net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(sp.Port)))}}
	} else {
		b.cfg.Endpoints = endpointsFor(t.ix.slices[nsName{ns, name}], sp)
	}
	t.backends[cname] = b
	return cname, nil
}

// newPortBackend is the backend of a Service or ServiceImport port, without endpoints: the
// mode and the port's appProtocol decide its protocol.
func newPortBackend(cname string, target ObjectKey, sp *corev1.ServicePort, mode backendMode) *backendIR {
	b := &backendIR{target: target, port: sp.Port, portName: sp.Name, mode: mode}
	b.cfg.Name = cname
	switch mode {
	case modeL4, modeUDP:
		b.cfg.Protocol = config.BackendTCP
	case modeGRPC:
		b.cfg.Protocol = config.BackendH2C
	default:
		if sp.AppProtocol != nil && *sp.AppProtocol == "kubernetes.io/h2c" {
			b.cfg.Protocol = config.BackendH2C
		}
	}
	return b
}

// serviceImportKind is the Multi-Cluster Services kind a backendRef may name (GEP-1748).
const serviceImportKind = "ServiceImport"

// resolveServiceImport resolves a backendRef to a multicluster.x-k8s.io ServiceImport: the
// port is one of its spec.ports, and its endpoints are those of the EndpointSlices in its
// namespace labelled multicluster.kubernetes.io/service-name=<name> (the MCS API
// convention; the slice port with the ServiceImport port's name gives the target port).
func (t *translator) resolveServiceImport(ns, name string, port *gwv1.PortNumber, mode backendMode) (string, *refError) {
	imp := t.ix.imports[nsName{ns, name}]
	if imp == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("ServiceImport %s/%s not found", ns, name)}
	}
	if port == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("backendRef to ServiceImport %s/%s needs a port", ns, name)}
	}
	want := corev1.ProtocolTCP
	if mode == modeUDP {
		want = corev1.ProtocolUDP
	}
	var sp *corev1.ServicePort
	for _, p := range imp.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if p.Port == int32(*port) && proto == want {
			sp = &corev1.ServicePort{Name: p.Name, Protocol: proto, AppProtocol: p.AppProtocol, Port: p.Port}
			break
		}
	}
	if sp == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("ServiceImport %s/%s has no %s port %d", ns, name, want, *port)}
	}
	cname := "serviceimport/" + ns + "/" + name + ":" + strconv.Itoa(int(*port)) + modeSuffix(mode)
	if _, ok := t.backends[cname]; ok {
		return cname, nil
	}
	b := newPortBackend(cname, ObjectKey{Group: mcsv1a1.GroupName, Kind: serviceImportKind, Namespace: ns, Name: name}, sp, mode)
	b.cfg.Endpoints = endpointsFor(t.ix.importSlices[nsName{ns, name}], sp)
	t.backends[cname] = b
	return cname, nil
}

// endpointsFor maps a Service port to the addresses of its ready endpoints and of its
// terminating endpoints that still serve (marked terminating): the EndpointSlice port with
// the Service port's name (and protocol) gives the target port, which may differ per slice.
// Headless and selectorless Services work the same way: their slices carry the
// kubernetes.io/service-name label too.
func endpointsFor(slices []*discoveryv1.EndpointSlice, sp *corev1.ServicePort) []config.Endpoint {
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	seen := map[string]int{} // address -> index in out
	var out []config.Endpoint
	for _, es := range slices {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var target int32
		for _, p := range es.Ports {
			pn := deref(p.Name, "")
			pp := deref(p.Protocol, corev1.ProtocolTCP)
			if pn == sp.Name && pp == proto && p.Port != nil {
				target = *p.Port
				break
			}
		}
		if target == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			// A terminating endpoint that still serves is kept, marked: the proxy sends it
			// new requests only when every endpoint is terminating (a rollout of a single
			// replica), so requests are not refused while its replacement starts.
			ready := deref(ep.Conditions.Ready, true)
			terminating := deref(ep.Conditions.Terminating, false)
			if !ready && !(terminating && deref(ep.Conditions.Serving, false)) {
				continue
			}
			zone := deref(ep.Zone, "")
			for _, a := range ep.Addresses {
				addr := net.JoinHostPort(a, strconv.Itoa(int(target)))
				if i, ok := seen[addr]; ok {
					if !terminating {
						out[i].Terminating = false // ready in another slice
					}
					continue
				}
				seen[addr] = len(out)
				out = append(out, config.Endpoint{Address: addr, Zone: zone, Terminating: terminating})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func (t *translator) resolveAgentgatewayBackend(ns, name string, mode backendMode) (string, *refError) {
	be := t.ix.backends[nsName{ns, name}]
	if be == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("AgentgatewayBackend %s/%s not found", ns, name)}
	}
	if be.Spec.MCP != nil {
		return t.resolveMCPBackend(be, mode)
	}
	st := be.Spec.Static
	if st == nil {
		return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("AgentgatewayBackend %s/%s has no supported variant (static, mcp)", ns, name)}
	}
	app := deref(st.AppProtocol, "http")
	if app == "tcp" && mode != modeL4 && mode != modeUDP {
		// A raw TCP backend speaks no HTTP: HTTPRoutes and GRPCRoutes cannot use it.
		return "", &refError{string(gwv1.RouteReasonUnsupportedProtocol), fmt.Sprintf("AgentgatewayBackend %s/%s has appProtocol tcp: only TCPRoutes and TLSRoutes may use it (set http, https or kubernetes.io/h2c for HTTP and gRPC)", ns, name)}
	}
	cname := "agentgatewaybackend/" + ns + "/" + name + modeSuffix(mode)
	if _, ok := t.backends[cname]; ok {
		return cname, nil
	}
	b := &backendIR{target: ObjectKey{Group: agwv1a1.GroupName, Kind: "AgentgatewayBackend", Namespace: ns, Name: name}, port: st.Port, mode: mode}
	b.cfg.Name = cname
	b.cfg.Endpoints = []config.Endpoint{{Address: net.JoinHostPort(st.Host, strconv.Itoa(int(st.Port)))}}
	switch {
	case mode == modeL4 || mode == modeUDP || app == "tcp":
		b.cfg.Protocol = config.BackendTCP
	case app == "https":
		b.cfg.TLS = &config.BackendTLS{}
		if net.ParseIP(st.Host) == nil {
			b.cfg.TLS.SNI = st.Host
		}
		if mode == modeGRPC {
			b.cfg.Protocol = config.BackendH2
		}
	case mode == modeGRPC || app == "kubernetes.io/h2c":
		b.cfg.Protocol = config.BackendH2C
	}
	t.backends[cname] = b
	return cname, nil
}

// backendStatuses reports every AgentgatewayBackend: Accepted unless it has no variant we
// can serve.
func (t *translator) backendStatuses() {
	for i := range t.s.Backends {
		be := &t.s.Backends[i]
		c := newConds(be.Generation)
		if be.Spec.Static == nil && be.Spec.MCP == nil {
			c.set("Accepted", false, "InvalidSpec", "set spec.static or spec.mcp")
		} else if msg := t.mcpTargetProblems(be); msg != "" {
			c.set("Accepted", false, "InvalidSpec", msg)
		} else {
			c.set("Accepted", true, "Accepted", "")
		}
		t.res.Backends = append(t.res.Backends, BackendResult{Namespace: be.Namespace, Name: be.Name, Generation: be.Generation, Conditions: c.list()})
	}
	sort.Slice(t.res.Backends, func(i, j int) bool {
		a, b := t.res.Backends[i], t.res.Backends[j]
		return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
	})
}
