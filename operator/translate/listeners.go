package translate

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

var (
	condAccepted     = string(gwv1.ListenerConditionAccepted)
	condConflicted   = string(gwv1.ListenerConditionConflicted)
	condProgrammed   = string(gwv1.ListenerConditionProgrammed)
	condResolvedRefs = string(gwv1.ListenerConditionResolvedRefs)
)

// routeKindsFor is which route kinds a listener protocol can carry.
func routeKindsFor(p gwv1.ProtocolType) []gwv1.Kind {
	switch p {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType:
		return []gwv1.Kind{"HTTPRoute", "GRPCRoute"}
	case gwv1.TLSProtocolType:
		return []gwv1.Kind{"TLSRoute"}
	case gwv1.TCPProtocolType:
		return []gwv1.Kind{"TCPRoute"}
	case gwv1.UDPProtocolType:
		return []gwv1.Kind{"UDPRoute"}
	}
	return nil
}

// validateListeners builds each Gateway's merged listener set (own listeners, then those of
// allowed ListenerSets in precedence order), validates each listener on its own, then marks
// conflicts.
func (t *translator) validateListeners() {
	for _, g := range t.gateways {
		for i := range g.gw.Spec.Listeners {
			l := &g.gw.Spec.Listeners[i]
			li := &listenerIR{gw: g, name: l.Name, port: int32(l.Port), protocol: l.Protocol, tls: l.TLS,
				allowed: l.AllowedRoutes, ownerNs: g.key.ns, conds: newConds(g.gw.Generation), filters: l.Filters}
			if l.Hostname != nil {
				li.hostname = string(*l.Hostname)
			}
			t.validateListener(li)
			g.listeners = append(g.listeners, li)
		}
		markConflicts(g.listeners, true)
		for _, s := range g.sets {
			for i := range s.ls.Spec.Listeners {
				l := &s.ls.Spec.Listeners[i]
				li := &listenerIR{gw: g, set: s, name: l.Name, port: int32(l.Port), protocol: l.Protocol, tls: l.TLS,
					allowed: l.AllowedRoutes, ownerNs: s.key.ns, conds: newConds(s.ls.Generation), filters: l.Filters}
				if l.Hostname != nil {
					li.hostname = string(*l.Hostname)
				}
				t.validateListener(li)
				s.listeners = append(s.listeners, li)
				if !s.allowed || !g.accepted() {
					li.conds.set(condAccepted, false, string(gwv1.ListenerEntryReasonInvalid), "the ListenerSet is not accepted")
					continue
				}
				g.listeners = append(g.listeners, li)
			}
			// A ListenerSet's listeners lose every conflict with listeners of higher precedence
			// (the Gateway's, older sets'); the winners keep working.
			markConflicts(g.listeners, false)
		}
		for _, li := range g.listeners {
			if !g.accepted() {
				li.conds.set(condProgrammed, false, string(gwv1.ListenerReasonInvalid), "the Gateway is not accepted")
				continue
			}
			switch {
			case li.usable():
				li.conds.set(condProgrammed, true, string(gwv1.ListenerReasonProgrammed), "")
			case li.conds.isFalse(condProgrammed):
				// Already explained (a conflict).
			default:
				li.conds.set(condProgrammed, false, string(gwv1.ListenerReasonInvalid), "the listener is not accepted")
			}
		}
	}
}

// validateListener checks one listener in isolation: protocol, port, TLS mode and
// allowedRoutes kinds. Conditions start optimistic and record the first problem.
func (t *translator) validateListener(l *listenerIR) {
	l.conds.set(condAccepted, true, string(gwv1.ListenerReasonAccepted), "")
	l.conds.set(condConflicted, false, string(gwv1.ListenerReasonNoConflicts), "")
	l.conds.set(condResolvedRefs, true, string(gwv1.ListenerReasonResolvedRefs), "")
	kinds := routeKindsFor(l.protocol)
	if kinds == nil {
		l.conds.set(condAccepted, false, string(gwv1.ListenerReasonUnsupportedProtocol),
			fmt.Sprintf("protocol %q is not supported; use HTTP, HTTPS, TLS, TCP or UDP", l.protocol))
	}
	if l.port < 1 || l.port > 65535 {
		l.conds.set(condAccepted, false, string(gwv1.ListenerReasonPortUnavailable), fmt.Sprintf("port %d is not a valid port", l.port))
	}
	validateListenerFilters(l)
	switch l.protocol {
	case gwv1.HTTPSProtocolType:
		if l.tls == nil || l.tls.Mode != nil && *l.tls.Mode != gwv1.TLSModeTerminate {
			l.conds.set(condAccepted, false, string(gwv1.ListenerReasonUnsupportedValue), "HTTPS listeners terminate TLS: set tls.mode Terminate and certificateRefs")
		}
	case gwv1.TLSProtocolType:
		if l.tls == nil {
			l.conds.set(condAccepted, false, string(gwv1.ListenerReasonUnsupportedValue), "TLS listeners need tls.mode (Passthrough or Terminate)")
		}
	}
	// supportedKinds: the requested kinds this protocol can carry; anything else is reported
	// as InvalidRouteKinds but does not stop the valid kinds from working.
	if l.allowed == nil || len(l.allowed.Kinds) == 0 {
		l.kinds = []gwv1.RouteGroupKind{}
		for _, k := range kinds {
			l.kinds = append(l.kinds, gwv1.RouteGroupKind{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: k})
		}
		return
	}
	l.kinds = []gwv1.RouteGroupKind{}
	for _, rk := range l.allowed.Kinds {
		group := gwv1.GroupName
		if rk.Group != nil {
			group = string(*rk.Group)
		}
		ok := false
		for _, k := range kinds {
			if group == gwv1.GroupName && rk.Kind == k {
				ok = true
			}
		}
		if !ok {
			l.conds.fail(condResolvedRefs, string(gwv1.ListenerReasonInvalidRouteKinds),
				fmt.Sprintf("route kind %s/%s is not supported on a %s listener", group, rk.Kind, l.protocol))
			continue
		}
		l.kinds = append(l.kinds, gwv1.RouteGroupKind{Group: ptr(gwv1.Group(group)), Kind: rk.Kind})
	}
}

// transport is the socket type a listener protocol binds.
func transport(p gwv1.ProtocolType) string {
	if p == gwv1.UDPProtocolType {
		return "UDP"
	}
	return "TCP"
}

// conflictReason says why two listeners cannot share a socket, or "" when they can: on one
// port every listener must speak the same protocol (one socket, one protocol in the proxy),
// and HTTP/HTTPS/TLS listeners must differ by hostname (TCP and UDP have none).
func conflictReason(a, b *listenerIR) string {
	if a.port != b.port || transport(a.protocol) != transport(b.protocol) {
		return ""
	}
	if a.protocol != b.protocol {
		return string(gwv1.ListenerReasonProtocolConflict)
	}
	if a.hostname == b.hostname {
		return string(gwv1.ListenerReasonHostnameConflict)
	}
	return ""
}

// markConflicts marks conflicted listeners. With symmetric (a Gateway's own listeners) every
// member of a conflict loses, as the spec requires ("MUST NOT pick a winner"). Otherwise
// listeners are compared with the accepted listeners before them and only the later one (the
// lower precedence ListenerSet listener) loses. O(n^2) in listeners per Gateway, which the
// API caps at 64 per object.
func markConflicts(ls []*listenerIR, symmetric bool) {
	for i, b := range ls {
		for j := 0; j < i; j++ {
			a := ls[j]
			if symmetric {
				if r := conflictReason(a, b); r != "" && knownProtocol(a) && knownProtocol(b) {
					setConflicted(a, r)
					setConflicted(b, r)
				}
				continue
			}
			if b.set == nil || !a.usable() || !b.usable() {
				continue
			}
			if r := conflictReason(a, b); r != "" {
				setConflicted(b, r)
			}
		}
	}
}

func knownProtocol(l *listenerIR) bool { return routeKindsFor(l.protocol) != nil }

func setConflicted(l *listenerIR, reason string) {
	msg := "another listener uses the same port with a different protocol"
	if reason == string(gwv1.ListenerReasonHostnameConflict) {
		msg = "another listener uses the same port, protocol and hostname"
	}
	l.conds.set(condConflicted, true, reason, msg)
	l.conds.set(condAccepted, false, reason, msg)
	l.conds.set(condProgrammed, false, reason, msg)
}

func ptr[T any](v T) *T { return &v }
