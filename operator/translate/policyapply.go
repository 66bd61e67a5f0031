package translate

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

const routeWins = "not applied: the route's own Gateway API field is more specific"

const routeAuthWins = "not applied: the rule's own ExternalAuth filter is more specific"

const notEnforced = "shown in effectiveconfig but not enforced by this proxy version"

// frontendSettings is the merged frontend section of one listener.
type frontendSettings struct {
	fields       merged
	minVersion   string
	alpn         []string
	cipherSuites []string
	http3        bool
	// bind holds the connection settings of frontend.http and frontend.tcp
	// (frontend.go); httpSrc and tcpSrc are the policies that set them.
	bind            config.Frontend
	httpSrc, tcpSrc *agwv1a1.AgentgatewayPolicy
	// accessLog is frontend.accessLog, for HTTP and HTTPS listeners (accesslog.go).
	accessLog *config.AccessLog
	// tracing is frontend.tracing, or an XTelemetryPolicy's, for HTTP and HTTPS
	// listeners (tracing.go).
	tracing *config.Tracing
}

// mergeFrontend merges the frontend section of the Gateway- and listener-level policies of
// one listener and maps what the proxy config can express.
func (t *translator) mergeFrontend(g *gatewayIR, l *listenerIR) {
	cands := append(append([]polAttach{}, t.policies.gateway[g]...), t.policies.listener[l]...)
	t.sectionIgnored(cands, "backend", "backend settings take effect only on Service or AgentgatewayBackend targets")
	m := t.merge(cands, "frontend", g)
	fs := &frontendSettings{fields: m}
	for _, path := range sortedKeys(m) {
		f := m[path]
		st := t.policies.stat(f.src.pol)
		switch v := f.value.(type) {
		case *agwv1a1.FrontendTLS:
			if v.MinVersion != nil {
				fs.minVersion = string(*v.MinVersion)
			}
			fs.alpn = v.ALPNProtocols
			if why := cipherSuitesRefused(v); why != "" {
				st.note("frontend.tls.cipherSuites", why)
			} else {
				fs.cipherSuites = v.CipherSuites
			}
		case *agwv1a1.AccessLog:
			fs.accessLog = t.frontendAccessLog(l, st, path, v)
		case *agwv1a1.Tracing:
			fs.tracing = t.frontendTracing(l, f.src.pol, st, path, v)
		case *agwv1a1.FrontendHTTP:
			fs.http3 = v.HTTP3 != nil && *v.HTTP3
			if frontendHTTP(&fs.bind, v, st.note) {
				fs.httpSrc = f.src.pol
			}
		case *agwv1a1.FrontendTCP:
			if why := frontendTCP(&fs.bind, v); why != "" {
				st.note("frontend.tcp.keepalive", why)
			} else if v.Keepalive != nil {
				fs.tcpSrc = f.src.pol
			}
		default:
			st.note(path, notEnforced)
		}
	}
	if fs.tracing == nil {
		_, own := m["frontend.tracing"]
		fs.tracing = t.listenerTelemetry(g, l, own)
	} else {
		t.listenerTelemetry(g, l, true)
	}
	l.frontend = fs
}

// mergeBackend merges the backend section of the policies targeting a backend's Service (or
// Service port) or AgentgatewayBackend, and applies it to the backend config.
func (t *translator) mergeBackend(be *backendIR) {
	cands := append(append([]polAttach{}, t.policies.backend[be.target.String()]...), t.policies.backendPort[be.target.String()+":"+be.portName]...)
	if be.target.Kind == "AgentgatewayBackend" {
		cands = t.policies.backend[be.target.String()]
	}
	t.sectionIgnored(cands, "traffic", "traffic settings take effect on Gateway, listener, route and rule targets, not on backends")
	be.policies = cands
	m := t.merge(cands, "backend", nil)
	be.fields = m
	for _, path := range sortedKeys(m) {
		f := m[path]
		st := t.policies.stat(f.src.pol)
		switch v := f.value.(type) {
		case *agwv1a1.BackendTLS:
			bt, err := t.backendTLS(f.src.pol, v)
			if err != "" {
				st.refErrors = append(st.refErrors, "backend.tls: "+err+"; requests to "+be.target.Kind+" "+be.target.Namespace+"/"+be.target.Name+" are answered with 500")
				be.invalid = "backend TLS policy " + f.src.pol.Namespace + "/" + f.src.pol.Name + ": " + err
				continue
			}
			if bt.SNI == "" {
				bt.SNI = defaultSNI(be)
			}
			be.cfg.TLS = bt
			if be.cfg.Protocol == config.BackendH2C {
				be.cfg.Protocol = config.BackendH2
			}
		case *agwv1a1.BackendHTTP:
			if v.Version != nil && be.cfg.Protocol != config.BackendTCP {
				switch {
				case *v.Version == "HTTP2" && be.cfg.TLS != nil:
					be.cfg.Protocol = config.BackendH2
				case *v.Version == "HTTP2":
					be.cfg.Protocol = config.BackendH2C
				default:
					be.cfg.Protocol = config.BackendHTTP1
				}
			}
		case *agwv1a1.BackendTCP:
			be.cfg.ConnectTimeout = duration(v.ConnectTimeout)
			if v.Keepalive != nil {
				if be.cfg.Protocol == config.BackendTCP {
					st.note("backend.tcp.keepalive", notForL4)
				} else if ka, why := upstreamKeepalive(v.Keepalive); why != "" {
					st.note("backend.tcp.keepalive", why)
				} else {
					resilience(be).TCPKeepalive = ka
				}
			}
		case *agwv1a1.BackendHealthCheck, *agwv1a1.OutlierDetection, *agwv1a1.CircuitBreakers, *int32:
			if be.cfg.Protocol == config.BackendTCP {
				st.note(path, notForL4)
				continue
			}
			t.applyResilience(be, st, path, v)
		case *agwv1a1.BackendAuth:
			t.applyBackendAuth(be, f, v)
		default:
			st.note(path, notEnforced)
		}
	}
}

// backendTLS builds backend TLS from a policy; the returned string is a user-facing error.
func (t *translator) backendTLS(p *agwv1a1.AgentgatewayPolicy, v *agwv1a1.BackendTLS) (*config.BackendTLS, string) {
	out := &config.BackendTLS{SubjectAltNames: v.SubjectAltNames, ALPN: v.ALPNProtocols, InsecureSkipVerify: deref(v.InsecureSkipVerify, false)}
	if v.SNI != nil {
		out.SNI = string(*v.SNI)
	}
	var bundle []string
	for _, ref := range v.CACertificateRefs {
		var ca string
		switch ref.Kind {
		case "ConfigMap":
			cm := t.ix.configMaps[nsName{p.Namespace, ref.Name}]
			if cm == nil {
				return nil, fmt.Sprintf("ConfigMap %s/%s not found", p.Namespace, ref.Name)
			}
			ca = cm.Data["ca.crt"]
		case "Secret":
			s := t.ix.secrets[nsName{p.Namespace, ref.Name}]
			if s == nil {
				return nil, fmt.Sprintf("Secret %s/%s not found", p.Namespace, ref.Name)
			}
			ca = string(s.Data["ca.crt"])
		}
		if _, err := config.ParseCAs(ca); err != nil {
			return nil, fmt.Sprintf("%s %s/%s key ca.crt: %v", ref.Kind, p.Namespace, ref.Name, err)
		}
		bundle = append(bundle, strings.TrimSpace(ca))
	}
	if len(bundle) > 0 {
		out.CACertificates = strings.Join(bundle, "\n") + "\n"
	}
	if r := v.MTLSCertificateRef; r != nil {
		s := t.ix.secrets[nsName{p.Namespace, r.Name}]
		if s == nil {
			return nil, fmt.Sprintf("Secret %s/%s not found", p.Namespace, r.Name)
		}
		cert, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return nil, fmt.Sprintf("Secret %s/%s does not hold a valid tls.crt/tls.key pair: %v", p.Namespace, r.Name, err)
		}
		out.ClientCertificate = &config.Certificate{CertChain: string(cert), PrivateKey: string(key)}
	}
	return out, ""
}

// mergeRule merges the traffic section for one rule of a route on one listener and applies
// it to a copy of the built rule. The route's own Gateway API fields (timeouts, retry,
// sessionPersistence, a CORS filter, an ExternalAuth filter, which takes the place of
// traffic.extAuth) are the most specific setting and are kept; policy values fill what the
// route leaves unset. A policy's retry budget is the exception: the route's retry has no
// budget, so a policy's budget caps the route's own retries too (GEP-3388 budgets are
// meant to hold whatever the route's retry settings ask).
//
// plain reports that no policy reaches the rule: then the result is a function of the
// built rule alone, and merging recorded nothing (assembleListener reuses such rules).
func (t *translator) mergeRule(a *attachment, i int, base config.HTTPRouteRule) (_ config.HTTPRouteRule, _ merged, plain bool) {
	cands := t.ruleCandidates(a, i)
	plain = len(cands) == 0
	var routeLevel []polAttach
	for _, c := range cands {
		if c.level >= levelRoute {
			routeLevel = append(routeLevel, c)
		}
	}
	t.sectionIgnored(routeLevel, "backend", "backend settings take effect only on Service or AgentgatewayBackend targets")
	m := t.merge(cands, "traffic", a.listener.gw)
	rule := base
	switch {
	case len(m) > 0:
		// Merged fields may replace or add filters: they work on a copy of the built rule's.
		rule.Filters = append([]config.HTTPFilter(nil), base.Filters...)
	case len(base.Filters) == 0:
		rule.Filters = nil // as a copy would be
	default:
		// Shared with the built rule, which no one changes; capped so that an append to
		// either never writes into the other.
		rule.Filters = base.Filters[:len(base.Filters):len(base.Filters)]
	}
	var closed []string
	for _, c := range cands {
		// A policy whose traffic section failed validation is not merged, but the rules it
		// reaches must not be served as if it did not exist: dropping it could drop an
		// authentication or authorization requirement along with the bad expression. So those
		// rules answer 500 until the policy is fixed (and an ExtensionRef filter must never be
		// skipped anyway, per the Gateway API).
		if c.pol.Spec.Traffic != nil && t.policies.stat(c.pol).invalid != nil {
			what := "policy "
			if c.level == levelInline {
				what = "inline policy "
			}
			closed = append(closed, what+c.pol.Namespace+"/"+c.pol.Name+" (invalid)")
		}
	}
	var tp config.TrafficPolicy // copied to the heap only when something is set
	var routeAuth *config.ExtAuth
	if base.Traffic != nil {
		routeAuth = base.Traffic.ExtAuth
		tp.ExtAuth = routeAuth
	}
	auth := authFilterNone
	if b := a.route.built; b != nil && i < len(b.auth) {
		auth = b.auth[i]
	}
	for _, path := range sortedKeys(m) {
		f := m[path]
		st := t.policies.stat(f.src.pol)
		if enforcedTraffic[path] {
			if path == "traffic.extAuth" && auth != authFilterNone {
				// Checked before the policy's own problems: a broken policy ext-auth that
				// the route's filter replaces does not close the rule.
				m.shadow(path, routeAuthWins)
				continue
			}
			if why := t.trafficBroken(f.src.pol, path); why != "" {
				closed = append(closed, path+" ("+f.src.pol.Namespace+"/"+f.src.pol.Name+")")
				m.shadow(path, "not enforced: "+why+"; the rule answers 500")
				continue
			}
			copyTraffic(&tp, &t.policies.traffic[f.src.pol].cfg, path)
			continue
		}
		switch v := f.value.(type) {
		case *agwv1a1.Timeouts:
			if rule.Timeouts != nil {
				m.shadow(path, routeWins)
			} else {
				to := &config.Timeouts{Request: duration(v.Request), BackendRequest: duration(v.BackendRequest)}
				if to.Request != nil || to.BackendRequest != nil {
					rule.Timeouts = to
				}
			}
		case *agwv1a1.Retry:
			budget := budgetFromPolicy(v.Budget)
			switch {
			case rule.Retry != nil && budget != nil:
				r := *rule.Retry
				r.Budget = budget
				rule.Retry = &r
				m.shadow(path, "attempts, codes and backoff not applied: the route's own retry is more specific; the budget applies to it")
			case rule.Retry != nil:
				m.shadow(path, routeWins)
			case v.Attempts > 0:
				r := &config.Retry{Attempts: int(v.Attempts), Backoff: duration(v.Backoff), Budget: budget}
				for _, c := range v.Codes {
					r.Codes = append(r.Codes, int(c))
				}
				rule.Retry = r
			}
		case *agwv1a1.HeaderModifiers:
			mergeHeaderFilter(&rule, headerModifier(v.Request), false)
			mergeHeaderFilter(&rule, headerModifier(v.Response), true)
		case *agwv1a1.DirectResponse:
			if hasFilter(rule, func(f config.HTTPFilter) bool { return f.RequestRedirect != nil || f.DirectResponse != nil }) {
				m.shadow(path, "the rule already redirects or responds directly")
				continue
			}
			rule.Filters = append(rule.Filters, config.HTTPFilter{DirectResponse: &config.DirectResponse{StatusCode: int(v.Status), Body: deref(v.Body, "")}})
			rule.BackendRefs = nil
		case *gwv1.HTTPCORSFilter:
			if hasFilter(rule, func(f config.HTTPFilter) bool { return f.CORS != nil }) {
				m.shadow(path, routeWins)
			} else {
				rule.Filters = append(rule.Filters, config.HTTPFilter{CORS: cors(v)})
			}
		case *gwv1.SessionPersistence:
			if p := sessionPersistenceProblem(v); p != "" {
				st.note(path, p)
			} else if rule.SessionPersistence != nil {
				m.shadow(path, routeWins)
			} else {
				rule.SessionPersistence = sessionPersistence(v)
			}
		default:
			st.note(path, notEnforced)
		}
	}
	if tp != (config.TrafficPolicy{}) {
		set := tp
		rule.Traffic = &set
	}
	if auth == authFilterClosed {
		// The rule answers 500 (closeExternalAuth); nothing else applies to it.
		for _, path := range sortedKeys(m) {
			if m[path].note == "" {
				m.shadow(path, "not applied: the rule answers 500 (its ExternalAuth filter cannot be used)")
			}
		}
		rule.Traffic = nil
	}
	if len(closed) > 0 {
		// The body names policies, not Secrets or backends: clients see it. The reason is in
		// the policy's status and in effectiveconfig.
		sort.Strings(closed)
		closed = dedupe(closed)
		for _, path := range sortedKeys(m) {
			if m[path].note == "" {
				m.shadow(path, "not applied: the rule answers 500 (see the fields that cannot be enforced)")
			}
		}
		rule.Filters = []config.HTTPFilter{{DirectResponse: &config.DirectResponse{StatusCode: 500,
			Body: "agentgateway: cannot enforce " + strings.Join(closed, ", ") + "; refusing the request"}}}
		rule.BackendRefs = nil
		rule.Traffic = nil
	}
	return rule, m, plain
}

// trafficBroken says why an enforced traffic field of a policy cannot be applied to a rule
// (the rule then answers 500), or "" when it can.
func (t *translator) trafficBroken(p *agwv1a1.AgentgatewayPolicy, path string) string {
	pt := t.policies.traffic[p]
	if pt == nil {
		return "internal error, please report: the policy was not converted"
	}
	if why := pt.broken[path]; why != "" {
		return why
	}
	if why := t.globalRateLimitBroken(&pt.cfg); path == "traffic.rateLimit" && why != "" {
		return why
	}
	if e := pt.cfg.ExtAuth; path == "traffic.extAuth" && e != nil {
		be := t.backends[e.Backend]
		if be != nil && be.invalid != "" {
			return "ext-auth backend " + e.Backend + ": " + be.invalid
		}
	}
	return ""
}

func hasFilter(r config.HTTPRouteRule, pred func(config.HTTPFilter) bool) bool {
	for _, f := range r.Filters {
		if pred(f) {
			return true
		}
	}
	return false
}

// mergeHeaderFilter adds a policy header modifier to a rule: the route's own modifier wins
// for any header it names; the policy adds the rest.
func mergeHeaderFilter(r *config.HTTPRouteRule, hm *config.HeaderModifier, response bool) {
	if hm == nil {
		return
	}
	for i := range r.Filters {
		existing := r.Filters[i].RequestHeaderModifier
		if response {
			existing = r.Filters[i].ResponseHeaderModifier
		}
		if existing == nil {
			continue
		}
		named := map[string]bool{}
		for _, h := range existing.Set {
			named[strings.ToLower(h.Name)] = true
		}
		for _, h := range existing.Add {
			named[strings.ToLower(h.Name)] = true
		}
		for _, h := range existing.Remove {
			named[strings.ToLower(h)] = true
		}
		out := &config.HeaderModifier{Set: append([]config.HTTPHeader(nil), existing.Set...), Add: append([]config.HTTPHeader(nil), existing.Add...), Remove: append([]string(nil), existing.Remove...)}
		for _, h := range hm.Set {
			if !named[strings.ToLower(h.Name)] {
				out.Set = append(out.Set, h)
			}
		}
		for _, h := range hm.Add {
			if !named[strings.ToLower(h.Name)] {
				out.Add = append(out.Add, h)
			}
		}
		for _, h := range hm.Remove {
			if !named[strings.ToLower(h)] {
				out.Remove = append(out.Remove, h)
			}
		}
		if response {
			r.Filters[i] = config.HTTPFilter{ResponseHeaderModifier: out}
		} else {
			r.Filters[i] = config.HTTPFilter{RequestHeaderModifier: out}
		}
		return
	}
	if response {
		r.Filters = append(r.Filters, config.HTTPFilter{ResponseHeaderModifier: hm})
	} else {
		r.Filters = append(r.Filters, config.HTTPFilter{RequestHeaderModifier: hm})
	}
}

// shadow marks a merged field as not applied to this rule, with the reason shown in the
// EffectiveConfig view.
func (m merged) shadow(path, why string) {
	f := m[path]
	f.note = why
	m[path] = f
}

// effectiveFields renders merged fields for the EffectiveConfig view.
func effectiveFields(ms ...merged) []viewsv1a1.EffectivePolicyField {
	var out []viewsv1a1.EffectivePolicyField
	for _, m := range ms {
		for _, path := range sortedKeys(m) {
			f := m[path]
			b, _ := json.Marshal(f.value) //nolint:errcheck // values come from API types and config; they always encode
			out = append(out, viewsv1a1.EffectivePolicyField{
				Field:  path,
				Source: source(f),
				Value:  string(b),
			})
		}
	}
	return out
}

func source(f mergedField) string {
	s := fmt.Sprintf("%s/%s (%s)", f.src.pol.Namespace, f.src.pol.Name, f.src.level)
	if f.note != "" {
		s += "; " + f.note
	}
	return s
}
