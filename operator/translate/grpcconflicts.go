package translate

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// resolveHTTPGRPCConflicts applies the GRPCRoute rule for mixed route kinds: when an
// HTTPRoute and a GRPCRoute on one listener share a hostname, only the older one (then the
// first by namespace/name) is accepted there. It runs right after attachment, since it
// changes which routes are attached.
func (t *translator) resolveHTTPGRPCConflicts() {
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			// l.routes is oldest first, so accepting greedily in that order lets every route
			// lose only to an older route that is itself accepted.
			accepted := map[string][]*attachment{}
			lost := map[*attachment]bool{}
			for _, a := range l.routes {
				other := ""
				switch a.route.key.Kind {
				case "HTTPRoute":
					other = "GRPCRoute"
				case "GRPCRoute":
					other = "HTTPRoute"
				default:
					continue
				}
				for _, b := range accepted[other] {
					if hostsOverlap(a.hostnames, b.hostnames) {
						lost[a] = true
						break
					}
				}
				if !lost[a] {
					accepted[a.route.key.Kind] = append(accepted[a.route.key.Kind], a)
				}
			}
			if len(lost) == 0 {
				continue
			}
			kept := l.routes[:0]
			for _, a := range l.routes {
				if lost[a] {
					a.route.detach(l)
					continue
				}
				kept = append(kept, a)
			}
			l.routes = kept
		}
	}
}

// hostsOverlap says whether two attachments' hostnames (nil: any) share a hostname.
func hostsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if _, ok := hostnameMatch(x, y); ok {
				return true
			}
		}
	}
	return false
}

// detach removes a route from a listener it lost to a route of the other kind; a parentRef
// left with no listener is not Accepted.
func (r *routeIR) detach(l *listenerIR) {
	for i, a := range r.attachments {
		if a.listener == l {
			r.attachments = append(r.attachments[:i], r.attachments[i+1:]...)
			break
		}
	}
	for _, p := range r.parents {
		for i, pl := range p.listeners {
			if pl == l {
				p.listeners = append(p.listeners[:i], p.listeners[i+1:]...)
				break
			}
		}
		if len(p.listeners) == 0 && !p.conds.isFalse(string(gwv1.RouteConditionAccepted)) {
			p.conds.set(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNotAllowedByListeners),
				"an older route of the other kind (HTTPRoute/GRPCRoute) already serves these hostnames on the listener")
		}
	}
}
