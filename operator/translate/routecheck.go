package translate

import (
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// routeCheck is the one-route config checkBuiltRoute validates. One is reused from route to
// route within a Translate: the validator keeps nothing of it, and building it afresh cost
// several allocations per route.
type routeCheck struct {
	cfg      config.Config
	bind     [1]config.Bind
	listener [1]config.Listener
	http     [1]config.HTTPRoute
	l4       [1]config.L4Route
}

// checkBuiltRoute validates one built route with the proxy's own validator, in a minimal
// config of its own. The API server lets through values the proxy cannot use (a regular
// expression RE2 rejects, say); such a route is rejected on its own
// (Accepted=False/UnsupportedValue) instead of making its whole Gateway's config invalid.
//
// The result is a function of what the route's fingerprint covers (routeFingerprint), so
// TranslateReusing takes it from the previous translation when the fingerprint is the same.
func (t *translator) checkBuiltRoute(r *routeIR) {
	fp := t.routeFingerprint(r)
	if fp != (configdelta.Fingerprint{}) {
		if why, ok := t.prev.checked[fp]; ok {
			t.res.checked[fp] = why
			if why != "" && r.rejected == "" {
				r.rejected = why
			}
			return
		}
	}
	why := t.checkRoute(r)
	if fp != (configdelta.Fingerprint{}) {
		t.res.checked[fp] = why
	}
	if why != "" && r.rejected == "" {
		r.rejected = why
	}
}

// checkRoute is checkBuiltRoute without the memo: why the proxy cannot use r, or "".
func (t *translator) checkRoute(r *routeIR) string {
	b := r.built
	c := t.check
	if c == nil {
		c = &routeCheck{}
		t.check = c
	}
	cfg := &c.cfg
	*cfg = config.Config{Version: "check", Backends: cfg.Backends[:0]}
	for _, name := range b.backends {
		if be := t.backends[name]; be != nil {
			cfg.Backends = append(cfg.Backends, be.cfg)
		}
	}
	l := &c.listener[0]
	*l = config.Listener{Name: "check"}
	bind := &c.bind[0]
	*bind = config.Bind{Name: "check", Port: 1}
	switch {
	case b.http != nil:
		bind.Protocol, l.Protocol = config.ProtocolHTTP, config.ProtocolHTTP
		c.http[0] = *b.http
		l.HTTPRoutes = c.http[:]
	case r.key.Kind == "TLSRoute":
		bind.Protocol, l.Protocol = config.ProtocolTLS, config.ProtocolTLS
		l.TLS = &config.ListenerTLS{Mode: config.TLSModePassthrough}
		c.l4[0] = *b.l4
		l.L4Routes = c.l4[:]
	case r.key.Kind == "UDPRoute":
		bind.Protocol, l.Protocol = config.ProtocolUDP, config.ProtocolUDP
		c.l4[0] = *b.l4
		l.L4Routes = c.l4[:]
	default:
		bind.Protocol, l.Protocol = config.ProtocolTCP, config.ProtocolTCP
		c.l4[0] = *b.l4
		l.L4Routes = c.l4[:]
	}
	bind.Listeners = c.listener[:]
	cfg.Binds = c.bind[:]
	if err := cfg.Validate(); err != nil {
		return "the proxy cannot use this route: " + err.Error()
	}
	return ""
}
