package translate

import (
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// checkBuiltRoute validates one built route with the proxy's own validator, in a minimal
// config of its own. The API server lets through values the proxy cannot use (a regular
// expression RE2 rejects, say); such a route is rejected on its own
// (Accepted=False/UnsupportedValue) instead of making its whole Gateway's config invalid.
func (t *translator) checkBuiltRoute(r *routeIR) {
	b := r.built
	cfg := &config.Config{Version: "check"}
	for _, name := range b.backends {
		if be := t.backends[name]; be != nil {
			cfg.Backends = append(cfg.Backends, be.cfg)
		}
	}
	l := config.Listener{Name: "check"}
	bind := config.Bind{Name: "check", Port: 1}
	switch {
	case b.http != nil:
		bind.Protocol, l.Protocol = config.ProtocolHTTP, config.ProtocolHTTP
		l.HTTPRoutes = []config.HTTPRoute{*b.http}
	case r.key.Kind == "TLSRoute":
		bind.Protocol, l.Protocol = config.ProtocolTLS, config.ProtocolTLS
		l.TLS = &config.ListenerTLS{Mode: config.TLSModePassthrough}
		l.L4Routes = []config.L4Route{*b.l4}
	case r.key.Kind == "UDPRoute":
		bind.Protocol, l.Protocol = config.ProtocolUDP, config.ProtocolUDP
		l.L4Routes = []config.L4Route{*b.l4}
	default:
		bind.Protocol, l.Protocol = config.ProtocolTCP, config.ProtocolTCP
		l.L4Routes = []config.L4Route{*b.l4}
	}
	bind.Listeners = []config.Listener{l}
	cfg.Binds = []config.Bind{bind}
	if err := cfg.Validate(); err != nil && r.rejected == "" {
		r.rejected = "the proxy cannot use this route: " + err.Error()
	}
}
