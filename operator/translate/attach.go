package translate

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeIR is one route of any kind, with what attachment and building found out.
type routeIR struct {
	key        ObjectKey
	meta       *metav1.ObjectMeta
	parentRefs []gwv1.ParentReference
	hostnames  []string // TLS/HTTP/GRPC only
	parents    []*parentIR

	// resolved carries the route-wide ResolvedRefs condition.
	resolved conds
	// rejected, when set, makes every parent Accepted=False UnsupportedValue: the route asks
	// for something the proxy cannot do, and serving it partially would be wrong (for example
	// skipping an auth filter).
	rejected string

	attachments []*attachment

	http *gwv1.HTTPRoute
	grpc *gwv1.GRPCRoute
	l4   []gwv1.BackendRef // TLS/TCP/UDP: the backendRefs of every rule, flattened
	// built: see routebuild.go
	built *builtRoute
}

// parentIR is one of our parentRefs of a route and its Accepted condition.
type parentIR struct {
	ref       gwv1.ParentReference
	conds     conds
	listeners []*listenerIR
}

// attachment is a route attached to one listener.
type attachment struct {
	route     *routeIR
	listener  *listenerIR
	hostnames []string // intersected with the listener's hostname; nil means any
}

// attachRoutes collects every route kind and attaches each to the listeners its parentRefs
// select. Routes are processed sorted by kind/namespace/name, so attachment order (and
// everything built from it) is deterministic.
func (t *translator) attachRoutes() {
	for i := range t.s.HTTPRoutes {
		r := &t.s.HTTPRoutes[i]
		t.addRoute(&routeIR{key: routeKey("HTTPRoute", &r.ObjectMeta), meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs,
			hostnames: hostStrings(r.Spec.Hostnames), http: r})
	}
	for i := range t.s.GRPCRoutes {
		r := &t.s.GRPCRoutes[i]
		t.addRoute(&routeIR{key: routeKey("GRPCRoute", &r.ObjectMeta), meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs,
			hostnames: hostStrings(r.Spec.Hostnames), grpc: r})
	}
	for i := range t.s.TLSRoutes {
		r := &t.s.TLSRoutes[i]
		t.addRoute(&routeIR{key: routeKey("TLSRoute", &r.ObjectMeta), meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs,
			hostnames: hostStrings(r.Spec.Hostnames), l4: flattenTLS(r.Spec.Rules)})
	}
	for i := range t.s.TCPRoutes {
		r := &t.s.TCPRoutes[i]
		var refs []gwv1.BackendRef
		for _, rule := range r.Spec.Rules {
			refs = append(refs, rule.BackendRefs...)
		}
		t.addRoute(&routeIR{key: routeKey("TCPRoute", &r.ObjectMeta), meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs, l4: refs})
	}
	for i := range t.s.UDPRoutes {
		r := &t.s.UDPRoutes[i]
		var refs []gwv1.BackendRef
		for _, rule := range r.Spec.Rules {
			refs = append(refs, rule.BackendRefs...)
		}
		t.addRoute(&routeIR{key: routeKey("UDPRoute", &r.ObjectMeta), meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs, l4: refs})
	}
	sort.Slice(t.routes, func(i, j int) bool { return lessKey(t.routes[i].key, t.routes[j].key) })
	for _, r := range t.routes {
		t.attachRoute(r)
	}
	// Listener route lists in the order routes win ties: oldest first, then namespace/name.
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			sort.SliceStable(l.routes, func(i, j int) bool {
				a, b := l.routes[i].route, l.routes[j].route
				if !a.meta.CreationTimestamp.Equal(&b.meta.CreationTimestamp) {
					return a.meta.CreationTimestamp.Before(&b.meta.CreationTimestamp)
				}
				return lessKey(a.key, b.key)
			})
		}
	}
}

func flattenTLS(rules []gwv1.TLSRouteRule) []gwv1.BackendRef {
	var refs []gwv1.BackendRef
	for _, rule := range rules {
		refs = append(refs, rule.BackendRefs...)
	}
	return refs
}

func routeKey(kind string, m *metav1.ObjectMeta) ObjectKey {
	return ObjectKey{Group: gwv1.GroupName, Kind: kind, Namespace: m.Namespace, Name: m.Name}
}

func lessKey(a, b ObjectKey) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

func hostStrings(hs []gwv1.Hostname) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, strings.ToLower(string(h)))
	}
	return out
}

// addRoute keeps only routes with at least one parentRef to something of ours.
func (t *translator) addRoute(r *routeIR) {
	var seen map[string]bool // only a route with several parentRefs can repeat one
	for _, ref := range r.parentRefs {
		if t.parentGateway(r, ref) == nil {
			continue
		}
		if len(r.parentRefs) > 1 {
			k := parentRefString(ref)
			if seen[k] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[k] = true
		}
		// Room for Accepted and the ResolvedRefs condition status adds (routeStatuses).
		pc := conds{gen: r.meta.Generation, l: make([]metav1.Condition, 0, 2)}
		r.parents = append(r.parents, &parentIR{ref: ref, conds: pc})
	}
	if len(r.parents) == 0 {
		return
	}
	r.resolved = conds{gen: r.meta.Generation}
	r.resolved.set(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "")
	t.routes = append(t.routes, r)
}

func parentRefString(p gwv1.ParentReference) string {
	s := string(deref(p.Group, gwv1.GroupName)) + "/" + string(deref(p.Kind, "Gateway")) + "/" + string(deref(p.Namespace, "")) + "/" + string(p.Name)
	if p.SectionName != nil {
		s += "#" + string(*p.SectionName)
	}
	if p.Port != nil {
		s += ":" + strconv.Itoa(int(*p.Port))
	}
	return s
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// parentGateway returns our Gateway the parentRef points at (directly, or through one of its
// ListenerSets), or nil when the parent is not ours.
func (t *translator) parentGateway(r *routeIR, ref gwv1.ParentReference) *gatewayIR {
	if string(deref(ref.Group, gwv1.GroupName)) != gwv1.GroupName {
		return nil
	}
	ns := r.meta.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	switch deref(ref.Kind, "Gateway") {
	case "Gateway":
		return t.gwByKey[nsName{ns, string(ref.Name)}]
	case "ListenerSet":
		if s := t.setByKey[nsName{ns, string(ref.Name)}]; s != nil {
			return s.gw
		}
	}
	return nil
}

func (t *translator) attachRoute(r *routeIR) {
	acc := string(gwv1.RouteConditionAccepted)
	for _, p := range r.parents {
		ref := p.ref
		ns := r.meta.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		// The candidates are the ListenerSet's listeners, or the Gateway's own (not those of
		// its ListenerSets). They are filtered in place rather than collected: this runs for
		// every route.
		var candidates []*listenerIR
		var g *gatewayIR
		ownOnly := false
		if deref(ref.Kind, "Gateway") == "ListenerSet" {
			s := t.setByKey[nsName{ns, string(ref.Name)}]
			g = s.gw
			if !s.allowed {
				p.conds.set(acc, false, string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("ListenerSet %s is not accepted by its Gateway", s.key))
				continue
			}
			candidates = s.listeners
		} else {
			g = t.gwByKey[nsName{ns, string(ref.Name)}]
			candidates, ownOnly = g.listeners, true
		}
		if !g.accepted() {
			p.conds.set(acc, false, string(gwv1.RouteReasonNoMatchingParent), fmt.Sprintf("Gateway %s is not accepted", g.key))
			continue
		}
		matches := func(l *listenerIR) bool {
			if ownOnly && l.set != nil {
				return false
			}
			if ref.SectionName != nil && l.name != *ref.SectionName {
				return false
			}
			return ref.Port == nil || l.port == int32(*ref.Port)
		}
		if !slices.ContainsFunc(candidates, matches) {
			p.conds.set(acc, false, string(gwv1.RouteReasonNoMatchingParent), "no listener matches the parentRef's sectionName and port")
			continue
		}
		notAllowed, noHost := 0, 0
		for _, l := range candidates {
			if !matches(l) {
				continue
			}
			if !l.usable() {
				continue
			}
			if !kindAllowed(l, r.key.Kind) || !t.namespaceAllowedForRoute(l, r.meta.Namespace) {
				notAllowed++
				continue
			}
			var hosts []string
			if r.key.Kind == "HTTPRoute" || r.key.Kind == "GRPCRoute" || r.key.Kind == "TLSRoute" {
				h, ok := intersectHostnames(l.hostname, r.hostnames)
				if !ok {
					noHost++
					continue
				}
				hosts = h
			}
			p.listeners = append(p.listeners, l)
			if !r.attachedTo(l) {
				a := &attachment{route: r, listener: l, hostnames: hosts}
				r.attachments = append(r.attachments, a)
				l.routes = append(l.routes, a)
			}
		}
		switch {
		case len(p.listeners) > 0:
			p.conds.set(acc, true, string(gwv1.RouteReasonAccepted), "")
		case notAllowed > 0:
			p.conds.set(acc, false, string(gwv1.RouteReasonNotAllowedByListeners), "no listener allows this route's kind and namespace (allowedRoutes)")
		case noHost > 0:
			p.conds.set(acc, false, string(gwv1.RouteReasonNoMatchingListenerHostname), "no listener hostname intersects the route's hostnames")
		default:
			p.conds.set(acc, false, string(gwv1.RouteReasonNoMatchingParent), "the matching listeners are not accepted (see the Gateway's listener status)")
		}
	}
}

func (r *routeIR) attachedTo(l *listenerIR) bool {
	for _, a := range r.attachments {
		if a.listener == l {
			return true
		}
	}
	return false
}

func kindAllowed(l *listenerIR, kind string) bool {
	for _, k := range l.kinds {
		if string(k.Kind) == kind && string(deref(k.Group, gwv1.GroupName)) == gwv1.GroupName {
			return true
		}
	}
	return false
}

// namespaceAllowedForRoute applies allowedRoutes.namespaces (default Same).
func (t *translator) namespaceAllowedForRoute(l *listenerIR, ns string) bool {
	from := gwv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if l.allowed != nil && l.allowed.Namespaces != nil {
		if l.allowed.Namespaces.From != nil {
			from = *l.allowed.Namespaces.From
		}
		sel = l.allowed.Namespaces.Selector
	}
	return t.namespaceAllowed(from, sel, l.ownerNs, ns)
}
