package translate

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// assemble builds each accepted Gateway's config: one bind per port (and transport), its
// servable listeners, their routes with merged policies, and every backend they reference.
// Work per Gateway is proportional to what is attached to it.
func (t *translator) assemble() {
	t.usedBy = map[string][]*gatewayIR{}
	for _, g := range t.gateways {
		if !g.accepted() {
			continue
		}
		t.assembleGateway(g)
	}
}

type bindKey struct {
	udp  bool
	port int32
}

func (t *translator) assembleGateway(g *gatewayIR) {
	cfg := &config.Config{}
	eff := &viewsv1a1.EffectiveConfig{GatewayClassName: string(g.gw.Spec.GatewayClassName)}
	eff.Name, eff.Namespace = g.key.name, g.key.ns
	binds := map[bindKey]*config.Bind{}
	used := map[string]bool{}
	// fingerprints of the HTTP routes of each bind's listeners, in config order
	// (TranslateReusing only).
	var fingerprints map[bindKey][][]configdelta.Fingerprint
	if t.epoch != "" {
		fingerprints = map[bindKey][][]configdelta.Fingerprint{}
	}
	for _, l := range g.listeners {
		if !l.servable() {
			continue
		}
		k := bindKey{transport(l.protocol) == "UDP", l.port}
		b := binds[k]
		if b == nil {
			name := fmt.Sprintf("port-%d", l.port)
			if k.udp {
				name = fmt.Sprintf("udp-%d", l.port)
			}
			b = &config.Bind{Name: name, Port: int(l.port), Protocol: config.Protocol(l.protocol)}
			binds[k] = b
		}
		cl, el, fps := t.assembleListener(g, l, used)
		t.bindFrontend(b, l)
		if fingerprints != nil {
			fingerprints[k] = append(fingerprints[k], fps)
		}
		if l.frontend != nil && l.frontend.http3 && b.Protocol == config.ProtocolHTTPS {
			b.HTTP3 = true
		}
		b.Listeners = append(b.Listeners, cl)
		eff.Listeners = append(eff.Listeners, el)
	}
	keys := make([]bindKey, 0, len(binds))
	for k := range binds {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].port != keys[j].port {
			return keys[i].port < keys[j].port
		}
		return !keys[i].udp && keys[j].udp
	})
	var ports []Port
	var bindFps [][][]configdelta.Fingerprint // by bind, listener and route of cfg
	for _, k := range keys {
		if fingerprints != nil {
			bindFps = append(bindFps, fingerprints[k])
		}
		b := binds[k]
		cfg.Binds = append(cfg.Binds, *b)
		proto := "TCP"
		if k.udp {
			proto = "UDP"
		}
		ports = append(ports, Port{Name: b.Name, Port: k.port, Protocol: proto})
		if b.HTTP3 {
			ports = append(ports, Port{Name: fmt.Sprintf("quic-%d", k.port), Port: k.port, Protocol: "UDP"})
		}
	}
	for _, name := range sortedKeys(used) {
		be := t.backends[name]
		c := be.cfg
		c.Endpoints = append([]config.Endpoint(nil), be.cfg.Endpoints...)
		if c.TLS != nil && c.TLS.ClientCertificate == nil && g.backendClientCert != nil {
			tlsCopy := *c.TLS
			tlsCopy.ClientCertificate = g.backendClientCert
			c.TLS = &tlsCopy
		}
		cfg.Backends = append(cfg.Backends, c)
		t.noteUse(name, g)
	}
	// The pieces serve as the content hash and, on the config server, as the pushes.
	var fingerprint func(bi, li, ri int) configdelta.Fingerprint
	if fingerprints != nil {
		fingerprint = func(bi, li, ri int) configdelta.Fingerprint {
			if fps := bindFps[bi][li]; ri < len(fps) {
				return fps[ri]
			}
			return configdelta.Fingerprint{}
		}
	}
	enc, encErr := configdelta.EncodeReusing(cfg, t.prev.pieces[g.key], fingerprint)
	if encErr == nil {
		cfg.Version = enc.Version
	}
	eff.Version = cfg.Version
	g.config, g.encoded, g.effective, g.ports = cfg, enc, eff, ports
	if err := cmp.Or(t.validate(cfg, enc), encErr); err != nil {
		// A config the proxy would reject is a translator bug: keep the proxies on their last
		// good config and say so.
		g.config, g.encoded = nil, nil
		g.conds.set(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid),
			"internal error, please report: the generated proxy config is invalid: "+err.Error())
	}
}

// validate is cfg.Validate, except for the HTTP routes whose pieces enc reused: each was
// in the previous config of this Gateway, which passed validation (a Gateway whose config
// fails keeps no pieces), and its fingerprint says it was built from the same inputs,
// backends included. With one route changed, this checks one route instead of all.
func (t *translator) validate(cfg *config.Config, enc *configdelta.Encoded) error {
	if enc == nil || enc.Reused() == 0 {
		return cfg.Validate()
	}
	return cfg.ValidateExcept(func(bi, li, ri int) bool {
		b := &cfg.Binds[bi]
		l := &b.Listeners[li]
		return enc.ReusedRoute(b.Name, l.Name, l.HTTPRoutes[ri].EffectiveKey())
	})
}

// noteUse records that Gateway g references a backend (usable or not): policies on the
// backend report g as an ancestor.
func (t *translator) noteUse(name string, g *gatewayIR) {
	for _, x := range t.usedBy[name] {
		if x == g {
			return
		}
	}
	t.usedBy[name] = append(t.usedBy[name], g)
	if be := t.backends[name]; be != nil {
		for _, pa := range be.policies {
			t.policies.stat(pa.pol).ancestors[g.key] = true
		}
	}
}

// assembleListener also returns the fingerprint of each of the listener's HTTP routes (see
// TranslateReusing), the zero Fingerprint where there is none.
func (t *translator) assembleListener(g *gatewayIR, l *listenerIR, used map[string]bool) (config.Listener, viewsv1a1.EffectiveListener, []configdelta.Fingerprint) {
	cl := config.Listener{Name: l.configName(), Hostname: l.hostname, Protocol: config.Protocol(l.protocol)}
	el := viewsv1a1.EffectiveListener{Name: l.configName(), Port: l.port, Protocol: string(l.protocol), Hostname: l.hostname}
	if l.tls != nil && (l.protocol == gwv1.HTTPSProtocolType || l.protocol == gwv1.TLSProtocolType) {
		if l.tls.Mode != nil && *l.tls.Mode == gwv1.TLSModePassthrough {
			cl.TLS = &config.ListenerTLS{Mode: config.TLSModePassthrough}
			el.TLS = &viewsv1a1.EffectiveTLS{Mode: string(config.TLSModePassthrough)}
		} else {
			cl.TLS = &config.ListenerTLS{Mode: config.TLSModeTerminate, Certificates: l.certs, ClientValidation: l.clientValidation}
			if fs := l.frontend; fs != nil {
				cl.TLS.MinVersion, cl.TLS.ALPN, cl.TLS.CipherSuites = fs.minVersion, fs.alpn, fs.cipherSuites
			}
			el.TLS = &viewsv1a1.EffectiveTLS{Mode: string(config.TLSModeTerminate), Certificates: l.certNames}
		}
	}
	cl.PreRouting = l.preRouting
	for _, f := range l.preRouting {
		if f.ExtAuth != nil {
			used[f.ExtAuth.Backend] = true
		}
	}
	var front merged
	if l.frontend != nil {
		front = l.frontend.fields
		cl.AccessLog = l.frontend.accessLog
		if cl.Tracing = l.frontend.tracing; cl.Tracing != nil {
			used[cl.Tracing.Backend] = true
		}
	}
	// The EffectiveRoutes are listed in precedence order. What orders them is known from the
	// built routes (merging policies changes no match), so the order is settled first and
	// each EffectiveRoute is then written straight to its place. This also counts what the
	// listener serves, so the lists below are allocated once.
	httpOK := l.protocol == gwv1.HTTPProtocolType || l.protocol == gwv1.HTTPSProtocolType
	var sni map[*attachment][]string
	if l.protocol == gwv1.TLSProtocolType {
		sni = sniOwners(l.routes)
	}
	nHTTP, nL4 := 0, 0
	entries := make([]effEntry, 0, len(l.routes)) // routes mostly have one rule
	for ri, a := range l.routes {
		b := a.route.built
		host := keyOfHosts(a.hostnames)
		orig := keyOfOwnHosts(l.hostname, a.route.hostnames)
		switch {
		case b.http != nil && httpOK:
			nHTTP++
			for i := range b.http.Rules {
				entries = append(entries, effEntry{host: host, orig: orig, key: rulePrecedence(b.http.Rules[i]), hasKey: true, route: ri, rule: i, er: len(entries)})
			}
		case b.l4 != nil:
			if keep, ok := sni[a]; ok && len(keep) == 0 {
				continue // every SNI name it narrows to belongs to a more specific route
			}
			nL4++
			entries = append(entries, effEntry{host: host, orig: orig, route: ri, er: len(entries)})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].less(&entries[j]) })
	// place[k] is where the k-th EffectiveRoute built below goes.
	place := make([]int, len(entries))
	for i, e := range entries {
		place[e.er] = i
	}
	if len(entries) > 0 {
		el.Routes = make([]viewsv1a1.EffectiveRoute, len(entries))
	}
	var fps []configdelta.Fingerprint
	if nHTTP > 0 {
		cl.HTTPRoutes = make([]config.HTTPRoute, 0, nHTTP)
		if t.epoch != "" {
			fps = make([]configdelta.Fingerprint, 0, nHTTP)
		}
	}
	if nL4 > 0 {
		cl.L4Routes = make([]config.L4Route, 0, nL4)
	}
	k := 0
	for _, a := range l.routes {
		b := a.route.built
		switch {
		case b.http != nil && httpOK:
			var fp configdelta.Fingerprint
			if fps != nil {
				fp = t.routeFingerprint(a.route)
				fps = append(fps, fp)
			}
			key := assembledKey{g.key, l.configName(), a.route.meta.UID}
			if prev := t.prev.assembled[key]; prev != nil && fp != (configdelta.Fingerprint{}) && prev.fp == fp && sameHostnames(prev.hostnames, a.hostnames) &&
				len(prev.hr.Rules) == len(b.http.Rules) {
				// Built from the same inputs, and no policy reaches it: the merged rules and
				// their views are the previous translation's. Only their marks on the
				// backends they use are made again.
				for i := range prev.hr.Rules {
					t.markUse(g, b.http.Rules[i].BackendRefs, &prev.hr.Rules[i], used)
					el.Routes[place[k]] = prev.views[i]
					k++
				}
				cl.HTTPRoutes = append(cl.HTTPRoutes, prev.hr)
				t.res.assembled[key] = prev
				break
			}
			hr := *b.http
			hr.Rules = make([]config.HTTPRouteRule, len(b.http.Rules))
			plainRoute := true
			var views []viewsv1a1.EffectiveRoute
			if t.res.assembled != nil && fp != (configdelta.Fingerprint{}) {
				views = make([]viewsv1a1.EffectiveRoute, 0, len(b.http.Rules))
			}
			for i := range b.http.Rules {
				rule, m, plain := t.mergeRule(a, i, b.http.Rules[i])
				plainRoute = plainRoute && plain
				rule.BackendRefs = t.useBackendRefs(g, rule.BackendRefs, used)
				t.markMirrorsAndAuth(g, &rule, used)
				hr.Rules[i] = rule
				er := t.effectiveRule(a, b.ruleNames[i], rule, b.http.Rules[i].Traffic, effectiveFields(front, m))
				el.Routes[place[k]] = er
				if views != nil {
					views = append(views, er)
				}
				k++
			}
			cl.HTTPRoutes = append(cl.HTTPRoutes, hr)
			if plainRoute && views != nil {
				t.res.assembled[key] = &assembledRoute{fp: fp, hostnames: a.hostnames, hr: hr, views: views}
			}
		case b.l4 != nil:
			hostnames := a.hostnames
			lr := *b.l4
			if keep, ok := sni[a]; ok {
				if len(keep) == 0 {
					continue
				}
				hostnames, lr.Hostnames = keep, keep
			}
			lr.BackendRefs = t.useBackendRefs(g, b.l4.BackendRefs, used)
			cl.L4Routes = append(cl.L4Routes, lr)
			er := viewsv1a1.EffectiveRoute{Kind: a.route.key.Kind, Namespace: a.route.key.Namespace, Name: a.route.key.Name, Rule: "0", Hostnames: hostnames}
			er.Backends = t.effectiveBackends(lr.BackendRefs)
			el.Routes[place[k]] = er
			k++
		}
	}
	return cl, el, fps
}

// assembledKey names an HTTP route as assembled on one listener of one Gateway.
type assembledKey struct {
	gateway  nsName
	listener string
	route    types.UID
}

// assembledRoute is an HTTP route as assembleListener made it when no policy reached any
// of its rules: the config route with merged rules, and the EffectiveRoute of each rule.
// A later TranslateReusing takes them as they are when the route's fingerprint and its
// hostnames on the listener are the same (so are its built rules and every backend), and
// only marks the backends used again (markUse). Results are immutable, so both
// translations can share them.
type assembledRoute struct {
	fp        configdelta.Fingerprint
	hostnames []string
	hr        config.HTTPRoute
	views     []viewsv1a1.EffectiveRoute
}

// sameHostnames compares attachment hostnames; nil (any hostname) differs from empty.
func sameHostnames(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

// markUse makes the marks useBackendRefs and markMirrorsAndAuth made for a rule whose
// merged form is rule, assembled earlier from refs (the built rule's backendRefs): the
// Gateway is noted as a user of each backend, and usable ones are marked used.
func (t *translator) markUse(g *gatewayIR, refs []config.BackendRef, rule *config.HTTPRouteRule, used map[string]bool) {
	for _, r := range refs {
		if r.Backend != "" {
			t.useBackend(g, r.Backend, used)
		}
	}
	t.markMirrorsAndAuth(g, rule, used)
}

// markMirrorsAndAuth marks the backends of a merged rule's mirrors, external
// authorization and global rate-limit service as used by the Gateway.
func (t *translator) markMirrorsAndAuth(g *gatewayIR, rule *config.HTTPRouteRule, used map[string]bool) {
	for _, f := range rule.Filters {
		if f.RequestMirror != nil {
			used[f.RequestMirror.Backend] = true
		}
	}
	if rule.Traffic != nil && rule.Traffic.ExtAuth != nil {
		t.noteUse(rule.Traffic.ExtAuth.Backend, g)
		used[rule.Traffic.ExtAuth.Backend] = true
	}
	if name := globalRateLimitBackend(rule.Traffic); name != "" {
		t.noteUse(name, g)
		used[name] = true
	}
}

// useBackendRefs copies refs, turns refs to backends that must not be used into Invalid
// refs (500), and marks the rest as used by the Gateway.
func (t *translator) useBackendRefs(g *gatewayIR, refs []config.BackendRef, used map[string]bool) []config.BackendRef {
	out := append([]config.BackendRef(nil), refs...)
	for i := range out {
		if out[i].Backend == "" {
			continue
		}
		if invalid := t.useBackend(g, out[i].Backend, used); invalid != "" {
			out[i].Invalid, out[i].Backend = invalid, ""
		}
	}
	return out
}

// useBackend notes Gateway g as a user of backend name and marks it used, unless it must
// not be used: then it returns why (the ref answers 500).
func (t *translator) useBackend(g *gatewayIR, name string, used map[string]bool) (invalid string) {
	t.noteUse(name, g)
	if be := t.backends[name]; be != nil && be.invalid != "" {
		return be.invalid
	}
	used[name] = true
	return ""
}

func (t *translator) effectiveBackends(refs []config.BackendRef) []viewsv1a1.EffectiveBackend {
	var out []viewsv1a1.EffectiveBackend
	for _, r := range refs {
		eb := viewsv1a1.EffectiveBackend{Name: r.Backend, Weight: 1, Error: r.Invalid}
		if r.Weight != nil {
			eb.Weight = int32(*r.Weight)
		}
		if be := t.backends[r.Backend]; be != nil {
			eb.Endpoints = int32(len(be.cfg.Endpoints))
		}
		out = append(out, eb)
	}
	return out
}

// effectiveRule renders one rule for the EffectiveConfig view; built is the traffic section
// the route itself set (its ExternalAuth filter), shown as a filter when it is in effect.
func (t *translator) effectiveRule(a *attachment, name string, rule config.HTTPRouteRule, built *config.TrafficPolicy, pols []viewsv1a1.EffectivePolicyField) viewsv1a1.EffectiveRoute {
	er := viewsv1a1.EffectiveRoute{Kind: a.route.key.Kind, Namespace: a.route.key.Namespace, Name: a.route.key.Name, Rule: name, Hostnames: a.hostnames, Policies: pols}
	for _, m := range rule.Matches {
		er.Matches = append(er.Matches, m.String())
	}
	if len(er.Matches) == 0 {
		er.Matches = []string{"PathPrefix /"}
	}
	if built != nil && built.ExtAuth != nil && rule.Traffic != nil && rule.Traffic.ExtAuth == built.ExtAuth {
		proto := built.ExtAuth.Protocol
		if proto == "" {
			proto = config.ExtAuthHTTP
		}
		er.Filters = append(er.Filters, "ExternalAuth "+string(proto)+" "+built.ExtAuth.Backend)
	}
	for _, f := range rule.Filters {
		er.Filters = append(er.Filters, renderFilter(f))
	}
	er.Backends = t.effectiveBackends(rule.BackendRefs)
	for _, be := range er.Backends {
		if b := t.backends[be.Name]; b != nil {
			er.Policies = append(er.Policies, effectiveFields(b.fields)...)
			er.Policies = append(er.Policies, xbtpField(b)...)
		}
	}
	return er
}

// renderHeaders renders prefix and then the modifier's operations separated by spaces, in
// one allocation: it runs for header filters of every rule of every route.
func renderHeaders(prefix string, hm *config.HeaderModifier) string {
	n := len(prefix) + len(hm.Set) + len(hm.Add) + len(hm.Remove) // with a space per part
	for _, h := range hm.Set {
		n += len("set ") + len(h.Name) + len("=") + len(h.Value)
	}
	for _, h := range hm.Add {
		n += len("add ") + len(h.Name) + len("=") + len(h.Value)
	}
	for _, h := range hm.Remove {
		n += len("remove ") + len(h)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(prefix)
	parts := 0
	part := func(op, name, value string, hasValue bool) {
		if parts > 0 {
			b.WriteByte(' ')
		}
		parts++
		b.WriteString(op)
		b.WriteString(name)
		if hasValue {
			b.WriteByte('=')
			b.WriteString(value)
		}
	}
	for _, h := range hm.Set {
		part("set ", h.Name, h.Value, true)
	}
	for _, h := range hm.Add {
		part("add ", h.Name, h.Value, true)
	}
	for _, h := range hm.Remove {
		part("remove ", h, "", false)
	}
	return b.String()
}

func renderFilter(f config.HTTPFilter) string {
	switch {
	case f.RequestHeaderModifier != nil:
		return renderHeaders("RequestHeaderModifier ", f.RequestHeaderModifier)
	case f.ResponseHeaderModifier != nil:
		return renderHeaders("ResponseHeaderModifier ", f.ResponseHeaderModifier)
	case f.RequestRedirect != nil:
		code := f.RequestRedirect.StatusCode
		if code == 0 {
			code = 302
		}
		return fmt.Sprintf("RequestRedirect %d", code)
	case f.URLRewrite != nil:
		return "URLRewrite"
	case f.RequestMirror != nil:
		return "RequestMirror " + f.RequestMirror.Backend
	case f.CORS != nil:
		return "CORS"
	case f.DirectResponse != nil:
		return fmt.Sprintf("DirectResponse %d", f.DirectResponse.StatusCode)
	}
	return "unknown"
}
