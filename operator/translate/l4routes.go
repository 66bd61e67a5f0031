package translate

import (
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// buildL4Route turns a TLSRoute, TCPRoute or UDPRoute into an L4Route. The Gateway API
// allows several rules but gives them no matches, so their backendRefs are one weighted set.
func (t *translator) buildL4Route(r *routeIR) {
	b := &builtRoute{l4: &config.L4Route{RouteMeta: routeMeta(r)}}
	if r.key.Kind == "TLSRoute" && len(r.hostnames) > 0 {
		b.l4.Hostnames = r.hostnames
	}
	mode := modeL4
	if r.key.Kind == "UDPRoute" {
		mode = modeUDP
	}
	for _, br := range r.l4 {
		b.l4.BackendRefs = append(b.l4.BackendRefs, t.backendRef(r, br.BackendObjectReference, br.Weight, mode, b))
	}
	if len(b.l4.BackendRefs) == 0 {
		// Connections are refused rather than the route being dropped (the spec's "no
		// backends" behaviour at L4).
		b.l4.BackendRefs = []config.BackendRef{{Invalid: "the route has no backendRefs"}}
	}
	r.built = b
}
