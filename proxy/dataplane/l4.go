package dataplane

import (
	"crypto/tls"
	"errors"
	"sort"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/l4"
	"github.com/agentgateway/agentgateway-go/proxy/router"
)

// l4Config translates a TCP or TLS bind into the l4 package's config.
// Routes of all listeners are merged, their hostnames narrowed by the
// listener hostname, and ordered oldest first (then namespace/name) so the
// l4 router's "earlier route keeps a contested hostname" rule implements
// Gateway API precedence.
func l4Config(b *config.Bind, _ *bindState, g *graph, s *server) (l4.Config, error) {
	var cfg l4.Config
	type ordered struct {
		meta  *config.RouteMeta
		route l4.Route
	}
	var routes []ordered
	for li := range b.Listeners {
		if l := &b.Listeners[li]; l.TLS != nil && l.TLS.Mode == config.TLSModePassthrough {
			cfg.Passthrough = true
		}
	}
	// Terminate handshakes pick the certificate of the listener the SNI selects.
	terminate := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		return s.tlsFor(h.ServerName)
	}}
	for li := range b.Listeners {
		l := &b.Listeners[li]
		// Mixed mode: on a port that also passes TLS through, the routes of a Terminate
		// listener are routed by the peeked SNI and then terminated by the proxy.
		mixedTerminate := cfg.Passthrough && l.TLS != nil && l.TLS.Mode != config.TLSModePassthrough
		for ri := range l.L4Routes {
			r := &l.L4Routes[ri]
			// Where the proxy ends the client's TLS it opens TLS to backends that have it.
			terminated := b.Protocol == config.ProtocolTLS && (!cfg.Passthrough || mixedTerminate)
			lr := l4.Route{Name: r.EffectiveKey(), Listener: l.Name, Backends: l4Targets(r.BackendRefs, g, terminated)}
			if mixedTerminate {
				lr.Terminate = terminate
			}
			if b.Protocol == config.ProtocolTLS {
				hosts := r.Hostnames
				if len(hosts) == 0 {
					hosts = []string{l.Hostname}
				}
				for _, h := range hosts {
					if x, ok := router.Intersect(l.Hostname, h); ok && x != "" {
						lr.Hostnames = append(lr.Hostnames, x)
					}
				}
				if len(lr.Hostnames) == 0 && l.Hostname != "" {
					continue // nothing in common with the listener
				}
			}
			routes = append(routes, ordered{&r.RouteMeta, lr})
		}
	}
	sort.SliceStable(routes, func(i, j int) bool {
		a, b := routes[i].meta, routes[j].meta
		if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
			return a.CreationTimestamp.Before(b.CreationTimestamp)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	for _, r := range routes {
		cfg.Routes = append(cfg.Routes, r.route)
	}
	if b.Protocol == config.ProtocolTLS && !cfg.Passthrough {
		cfg.TLS = terminate
	}
	cfg.OnClose = s.sessionLog(b.Protocol)
	return cfg, nil
}

func udpConfig(b *config.Bind, g *graph, s *server) (l4.UDPConfig, error) {
	if len(b.Listeners) != 1 || len(b.Listeners[0].L4Routes) == 0 {
		return l4.UDPConfig{}, errors.New("a UDP bind needs one listener with a route")
	}
	// UDP has no hostname; the oldest route wins like any conflict.
	rs := b.Listeners[0].L4Routes
	best := 0
	for i := range rs {
		if rs[i].CreationTimestamp.Before(rs[best].CreationTimestamp) {
			best = i
		}
	}
	r := &rs[best]
	return l4.UDPConfig{Name: r.EffectiveKey(), Listener: b.Listeners[0].Name, Backends: l4Targets(r.BackendRefs, g, false),
		OnClose: s.sessionLog(b.Protocol)}, nil
}

// l4Targets flattens weighted backendRefs into weighted endpoint addresses:
// each ref's weight is split over its backend's endpoints by their
// weights. Invalid refs get no traffic. With originate, the targets of a
// backend with TLS get its client config: only routes whose client TLS the
// proxy terminated re-encrypt (a passed-through stream is already TLS).
func l4Targets(refs []config.BackendRef, g *graph, originate bool) []l4.WeightedTarget {
	var out []l4.WeightedTarget
	for _, ref := range refs {
		w := 1
		if ref.Weight != nil {
			w = *ref.Weight
		}
		b := g.config.BackendByName(ref.Backend)
		if ref.Invalid != "" || b == nil || w == 0 {
			continue
		}
		sum := 0
		for _, e := range b.Endpoints {
			sum += max(e.Weight, 1)
		}
		var clientTLS *tls.Config
		if ub := g.backends[b.Name]; originate && b.TLS != nil && ub != nil {
			clientTLS = ub.ClientTLS()
		}
		for _, e := range b.Endpoints {
			// Scaled by 1000 so integer division keeps the proportions.
			tw := uint32(max(1, w*max(e.Weight, 1)*1000/sum))
			out = append(out, l4.WeightedTarget{Addr: e.Address, Weight: tw, TLS: clientTLS})
		}
	}
	return out
}
