package translate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// builtRoute is a route translated once, independent of the listener it attaches to;
// policies are merged per listener later (see policies.go).
type builtRoute struct {
	http *config.HTTPRoute
	l4   *config.L4Route
	// ruleNames are the rule names, or their index when unnamed (sectionName targets).
	ruleNames []string
	// inline are the AgentgatewayPolicies of each rule's ExtensionRef filters, up to the last
	// rule that has any.
	inline [][]*agwv1a1.AgentgatewayPolicy
	// auth says, per rule, whether it has an ExternalAuth filter and whether that failed
	// closed.
	auth []authFilter
	// backends are the config backend names the route uses.
	backends []string
}

// buildRoutes translates every attached route once: matches, filters, backendRefs (resolved
// through Services and EndpointSlices) and the rule-level Gateway API fields. A route that
// attached nowhere is not built, so its backends cost nothing.
func (t *translator) buildRoutes() {
	for _, r := range t.routes {
		if len(r.attachments) == 0 {
			continue
		}
		reused := false
		switch {
		case r.http != nil:
			if reused = t.reuseBuiltHTTPRoute(r); !reused {
				t.buildHTTPRoute(r)
			}
		case r.grpc != nil:
			t.buildGRPCRoute(r)
		default:
			t.buildL4Route(r)
		}
		t.checkBuiltRoute(r)
		if r.http != nil && !reused {
			t.keepBuiltHTTPRoute(r)
		}
		if r.rejected != "" {
			// Do not serve a route partially; detach it everywhere.
			for _, a := range r.attachments {
				l := a.listener
				for i, x := range l.routes {
					if x == a {
						l.routes = append(l.routes[:i], l.routes[i+1:]...)
						break
					}
				}
			}
			r.attachments = nil
		}
	}
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			l.attached = int32(len(l.routes))
		}
	}
}

// builtHTTPRoute is an HTTPRoute as buildHTTPRoute built it, kept for the next
// TranslateReusing when building it left no mark but the backends it resolved: every
// backendRef resolved, no ExtensionRef policy, ExternalAuth or mirror filter, and the proxy
// accepts it (checkBuiltRoute). The next translation takes it when the route's fingerprint
// is the same and resolving its backendRefs again gives the same backends, which also
// makes the marks a build would make (the backends, in t.backends). A builtRoute of such a
// route is not changed after it is built, so both translations can share it.
type builtHTTPRoute struct {
	fp configdelta.Fingerprint
	b  *builtRoute
}

// reuseBuiltHTTPRoute sets r.built to the previous translation's build of r if it may
// (see builtHTTPRoute).
func (t *translator) reuseBuiltHTTPRoute(r *routeIR) bool {
	prev := t.prev.built[r.meta.UID]
	if prev == nil {
		return false
	}
	fp := t.routeFingerprint(r)
	if fp == (configdelta.Fingerprint{}) || fp != prev.fp {
		return false
	}
	var names []string
	for i := range r.http.Spec.Rules {
		for _, br := range r.http.Spec.Rules[i].BackendRefs {
			name, err := t.resolveBackend(r.key.Kind, r.meta.Namespace, br.BackendObjectReference, modeHTTP)
			if err != nil || !slices.Contains(prev.b.backends, name) {
				return false // buildHTTPRoute resolves them again, the same way
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	if len(names) != len(prev.b.backends) {
		return false // a backend the build used was not resolved again
	}
	r.built = prev.b
	t.res.built[r.meta.UID] = prev
	return true
}

// keepBuiltHTTPRoute keeps r's build for the next translation if it may be reused (see
// builtHTTPRoute). ResolvedRefs is the only condition a build sets (False on a backendRef
// it could not resolve).
func (t *translator) keepBuiltHTTPRoute(r *routeIR) {
	b := r.built
	if t.res.built == nil || b == nil || b.http == nil || r.rejected != "" || b.inline != nil ||
		r.resolved.isFalse(string(gwv1.RouteConditionResolvedRefs)) {
		return
	}
	fp := t.routeFingerprint(r)
	if fp == (configdelta.Fingerprint{}) {
		return
	}
	for i := range b.http.Rules {
		if b.http.Rules[i].Traffic != nil || b.auth[i] != authFilterNone {
			return
		}
		for _, f := range r.http.Spec.Rules[i].Filters {
			if f.Type == gwv1.HTTPRouteFilterRequestMirror || f.Type == gwv1.HTTPRouteFilterExtensionRef || f.Type == gwv1.HTTPRouteFilterExternalAuth {
				return
			}
		}
	}
	t.res.built[r.meta.UID] = &builtHTTPRoute{fp: fp, b: b}
}

func routeMeta(r *routeIR) config.RouteMeta {
	m := config.RouteMeta{Namespace: r.meta.Namespace, Name: r.meta.Name, CreationTimestamp: r.meta.CreationTimestamp.UTC()}
	if r.key.Kind != "HTTPRoute" {
		// Keys must be unique per listener; a GRPCRoute may share a name with an HTTPRoute.
		m.Key = r.key.Kind + "/" + r.meta.Namespace + "/" + r.meta.Name
	}
	return m
}

func ruleName(n *gwv1.SectionName, i int) string {
	if n != nil && *n != "" {
		return string(*n)
	}
	return strconv.Itoa(i)
}

func (t *translator) buildHTTPRoute(r *routeIR) {
	hr := r.http
	n := len(hr.Spec.Rules)
	b := &builtRoute{http: &config.HTTPRoute{RouteMeta: routeMeta(r), Hostnames: r.hostnames, Rules: make([]config.HTTPRouteRule, 0, n)}}
	if len(b.http.Hostnames) == 0 {
		b.http.Hostnames = nil
	}
	if n > 0 {
		b.ruleNames, b.auth = make([]string, 0, n), make([]authFilter, 0, n)
	}
	for i := range hr.Spec.Rules {
		rule := &hr.Spec.Rules[i]
		out := config.HTTPRouteRule{Name: string(deref(rule.Name, ""))}
		// Sized up front where the count is known (one per match, one per backendRef), left
		// nil when there are none.
		if len(rule.Matches) > 0 {
			out.Matches = make([]config.HTTPRouteMatch, 0, len(rule.Matches))
		}
		if len(rule.BackendRefs) > 0 {
			out.BackendRefs = make([]config.BackendRef, 0, len(rule.BackendRefs))
		}
		for _, m := range rule.Matches {
			out.Matches = append(out.Matches, httpMatch(m))
		}
		var inline []*agwv1a1.AgentgatewayPolicy
		authClosed := false
		for _, f := range rule.Filters {
			if f.Type == gwv1.HTTPRouteFilterExternalAuth {
				// Not a config filter: the proxy runs ext auth in the rule's traffic phase.
				authClosed = t.externalAuthFilter(r, i, f.ExternalAuth, &out, b) || authClosed
				continue
			}
			cf, pol := t.httpFilter(r, f, b)
			if cf != nil {
				out.Filters = append(out.Filters, *cf)
			}
			if pol != nil {
				inline = append(inline, pol)
			}
		}
		for _, br := range rule.BackendRefs {
			ref := t.backendRef(r, br.BackendObjectReference, br.Weight, modeHTTP, b)
			for _, f := range br.Filters {
				switch f.Type {
				case gwv1.HTTPRouteFilterRequestHeaderModifier, gwv1.HTTPRouteFilterResponseHeaderModifier, gwv1.HTTPRouteFilterURLRewrite:
				default:
					r.rejected = fmt.Sprintf("rule %d: backendRef filter %s is not supported; only RequestHeaderModifier, ResponseHeaderModifier and URLRewrite are", i, f.Type)
					continue
				}
				if cf, _ := t.httpFilter(r, f, b); cf != nil {
					ref.Filters = append(ref.Filters, *cf)
				}
			}
			out.BackendRefs = append(out.BackendRefs, ref)
		}
		if authClosed {
			closeExternalAuth(&out)
		}
		if terminal(out.Filters) {
			// A redirect or direct response answers the request itself; the proxy config
			// rejects backendRefs next to it (and the CRD forbids redirect + backendRefs).
			out.BackendRefs = nil
		}
		out.Timeouts = timeouts(rule.Timeouts)
		out.Retry = retry(rule.Retry)
		sp := rule.SessionPersistence //nolint:staticcheck // deprecated in v1.7.0 (XBackend carries it now) but still served, so still honoured
		if p := sessionPersistenceProblem(sp); p != "" {
			r.rejected = fmt.Sprintf("rule %d: %s", i, p)
		}
		out.SessionPersistence = sessionPersistence(sp)
		t.xbackendSession(r, &out)
		b.http.Rules = append(b.http.Rules, out)
		b.ruleNames = append(b.ruleNames, ruleName(rule.Name, i))
		if inline != nil {
			// b.inline stops at the last rule with inline policies: most routes have none.
			for len(b.inline) < i {
				b.inline = append(b.inline, nil)
			}
			b.inline = append(b.inline, inline)
		}
		switch {
		case authClosed:
			b.auth = append(b.auth, authFilterClosed)
		case out.Traffic != nil:
			b.auth = append(b.auth, authFilterActive)
		default:
			b.auth = append(b.auth, authFilterNone)
		}
	}
	r.built = b
}

// backendRef resolves one backendRef; an unresolvable one becomes an Invalid ref (the proxy
// answers 500 for its share) and sets the route's ResolvedRefs=False.
func (t *translator) backendRef(r *routeIR, ref gwv1.BackendObjectReference, weight *int32, mode backendMode, b *builtRoute) config.BackendRef {
	out := config.BackendRef{}
	if weight != nil {
		out.Weight = ptr(int(*weight))
	}
	name, err := t.resolveBackend(r.key.Kind, r.meta.Namespace, ref, mode)
	if err != nil {
		r.resolved.fail(string(gwv1.RouteConditionResolvedRefs), err.reason, err.msg)
		out.Invalid = err.msg
		return out
	}
	out.Backend = name
	b.addBackend(name)
	return out
}

func (b *builtRoute) addBackend(name string) {
	for _, n := range b.backends {
		if n == name {
			return
		}
	}
	b.backends = append(b.backends, name)
}

func httpMatch(m gwv1.HTTPRouteMatch) config.HTTPRouteMatch {
	out := config.HTTPRouteMatch{}
	if m.Path != nil {
		out.Path = &config.PathMatch{Type: config.PathMatchType(deref(m.Path.Type, gwv1.PathMatchPathPrefix)), Value: deref(m.Path.Value, "/")}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, config.HeaderMatch{Type: config.MatchType(deref(h.Type, gwv1.HeaderMatchExact)), Name: string(h.Name), Value: h.Value})
	}
	for _, q := range m.QueryParams {
		out.QueryParams = append(out.QueryParams, config.QueryParamMatch{Type: config.MatchType(deref(q.Type, gwv1.QueryParamMatchExact)), Name: string(q.Name), Value: q.Value})
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	return out
}

func headerModifier(f *gwv1.HTTPHeaderFilter) *config.HeaderModifier {
	if f == nil {
		return nil
	}
	out := &config.HeaderModifier{Remove: f.Remove}
	for _, h := range f.Set {
		out.Set = append(out.Set, config.HTTPHeader{Name: string(h.Name), Value: h.Value})
	}
	for _, h := range f.Add {
		out.Add = append(out.Add, config.HTTPHeader{Name: string(h.Name), Value: h.Value})
	}
	return out
}

func pathModifier(p *gwv1.HTTPPathModifier) *config.PathModifier {
	if p == nil {
		return nil
	}
	return &config.PathModifier{Type: config.PathModifierType(p.Type), ReplaceFullPath: deref(p.ReplaceFullPath, ""), ReplacePrefixMatch: deref(p.ReplacePrefixMatch, "")}
}

// httpFilter maps one HTTPRoute filter. ExtensionRef filters naming an AgentgatewayPolicy
// return the policy (merged at the highest precedence later) instead of a config filter.
func (t *translator) httpFilter(r *routeIR, f gwv1.HTTPRouteFilter, b *builtRoute) (*config.HTTPFilter, *agwv1a1.AgentgatewayPolicy) {
	switch f.Type {
	case gwv1.HTTPRouteFilterRequestHeaderModifier:
		return &config.HTTPFilter{RequestHeaderModifier: headerModifier(f.RequestHeaderModifier)}, nil
	case gwv1.HTTPRouteFilterResponseHeaderModifier:
		return &config.HTTPFilter{ResponseHeaderModifier: headerModifier(f.ResponseHeaderModifier)}, nil
	case gwv1.HTTPRouteFilterRequestRedirect:
		rr := f.RequestRedirect
		if rr == nil {
			return nil, nil
		}
		out := &config.RequestRedirect{Scheme: deref(rr.Scheme, ""), Hostname: string(deref(rr.Hostname, "")), Path: pathModifier(rr.Path), StatusCode: deref(rr.StatusCode, 0)}
		if rr.Port != nil {
			out.Port = int(*rr.Port)
		}
		return &config.HTTPFilter{RequestRedirect: out}, nil
	case gwv1.HTTPRouteFilterURLRewrite:
		if f.URLRewrite == nil {
			return nil, nil
		}
		return &config.HTTPFilter{URLRewrite: &config.URLRewrite{Hostname: string(deref(f.URLRewrite.Hostname, "")), Path: pathModifier(f.URLRewrite.Path)}}, nil
	case gwv1.HTTPRouteFilterRequestMirror:
		return t.mirrorFilter(r, f.RequestMirror, b), nil
	case gwv1.HTTPRouteFilterCORS:
		return &config.HTTPFilter{CORS: cors(f.CORS)}, nil
	case gwv1.HTTPRouteFilterExtensionRef:
		return t.extensionRef(r, f.ExtensionRef)
	default:
		// Anything newer: skipping a filter could expose the backend (an auth filter) or
		// serve something else than asked.
		r.rejected = fmt.Sprintf("filter type %s is not supported by agentgateway yet", f.Type)
		return nil, nil
	}
}

func (t *translator) mirrorFilter(r *routeIR, m *gwv1.HTTPRequestMirrorFilter, b *builtRoute) *config.HTTPFilter {
	if m == nil {
		return nil
	}
	name, err := t.resolveBackend(r.key.Kind, r.meta.Namespace, m.BackendRef, modeHTTP)
	if err != nil {
		// A mirror that cannot be resolved is dropped; mirroring never affects the main request.
		r.resolved.fail(string(gwv1.RouteConditionResolvedRefs), err.reason, err.msg)
		return nil
	}
	b.addBackend(name)
	out := &config.RequestMirror{Backend: name}
	switch {
	case m.Percent != nil:
		out.Percent = ptr(int(*m.Percent))
	case m.Fraction != nil:
		den := deref(m.Fraction.Denominator, 100)
		if den > 0 {
			out.Percent = ptr(min(100, int(m.Fraction.Numerator*100/den)))
		}
	}
	return &config.HTTPFilter{RequestMirror: out}
}

// extensionRef resolves an inline AgentgatewayPolicy. A filter that cannot be resolved must
// not be skipped (spec): the rule answers 500 instead.
func (t *translator) extensionRef(r *routeIR, ref *gwv1.LocalObjectReference) (*config.HTTPFilter, *agwv1a1.AgentgatewayPolicy) {
	fail := &config.HTTPFilter{DirectResponse: &config.DirectResponse{StatusCode: 500}}
	if ref == nil {
		return fail, nil
	}
	if string(ref.Group) != agwv1a1.GroupName || ref.Kind != "AgentgatewayPolicy" {
		r.resolved.fail(string(gwv1.RouteConditionResolvedRefs), string(gwv1.RouteReasonInvalidKind),
			fmt.Sprintf("extensionRef %s/%s %s: only agentgateway.dev AgentgatewayPolicy is supported", ref.Group, ref.Kind, ref.Name))
		return fail, nil
	}
	p := t.ix.policiesByN[nsName{r.meta.Namespace, string(ref.Name)}]
	if p == nil {
		r.resolved.fail(string(gwv1.RouteConditionResolvedRefs), "PolicyNotFound",
			fmt.Sprintf("extensionRef AgentgatewayPolicy %s/%s not found; requests of this rule get 500", r.meta.Namespace, ref.Name))
		return fail, nil
	}
	return nil, p
}

func cors(c *gwv1.HTTPCORSFilter) *config.CORS {
	if c == nil {
		return nil
	}
	out := &config.CORS{AllowCredentials: deref(c.AllowCredentials, false), MaxAge: int(c.MaxAge)}
	for _, o := range c.AllowOrigins {
		out.AllowOrigins = append(out.AllowOrigins, string(o))
	}
	for _, m := range c.AllowMethods {
		out.AllowMethods = append(out.AllowMethods, string(m))
	}
	for _, h := range c.AllowHeaders {
		out.AllowHeaders = append(out.AllowHeaders, string(h))
	}
	for _, h := range c.ExposeHeaders {
		out.ExposeHeaders = append(out.ExposeHeaders, string(h))
	}
	return out
}

// duration parses a Gateway API duration; zero or invalid means "not set" (the API treats 0
// as "no timeout", and CRD validation rejects malformed values).
func duration(d *gwv1.Duration) *config.Duration {
	if d == nil {
		return nil
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil || v <= 0 {
		return nil
	}
	return config.D(v)
}

func timeouts(t *gwv1.HTTPRouteTimeouts) *config.Timeouts {
	if t == nil {
		return nil
	}
	out := &config.Timeouts{Request: duration(t.Request), BackendRequest: duration(t.BackendRequest)}
	if out.Request == nil && out.BackendRequest == nil {
		return nil
	}
	return out
}

// retry maps HTTPRoute retry. Attempts defaults to 1 (the spec leaves the default to the
// implementation); 0 disables retries.
func retry(r *gwv1.HTTPRouteRetry) *config.Retry {
	if r == nil {
		return nil
	}
	n := deref(r.Attempts, 1)
	if n <= 0 {
		return nil
	}
	if n > 10 {
		n = 10
	}
	out := &config.Retry{Attempts: n, Backoff: duration(r.Backoff)}
	for _, c := range r.Codes {
		out.Codes = append(out.Codes, int(c))
	}
	return out
}

// defaultSessionName is used when a sessionPersistence names no cookie.
const defaultSessionName = "agw-session"

// sessionPersistenceProblem says why the proxy cannot honour s, or "" when it can: the
// proxy tracks session lifetimes in whole seconds.
func sessionPersistenceProblem(s *gwv1.SessionPersistence) string {
	if s == nil || s.AbsoluteTimeout == nil {
		return ""
	}
	if d := duration(s.AbsoluteTimeout); d == nil || d.Duration < time.Second {
		return fmt.Sprintf("sessionPersistence.absoluteTimeout %q is not supported; use 1s or more", *s.AbsoluteTimeout)
	}
	return ""
}

// sessionPersistence maps a Gateway API sessionPersistence (a route rule's or an
// XBackend's): the cookie or header name, the cookie's Path ("/" by default), and
// absoluteTimeout as the session's lifetime, which the proxy enforces from the token it
// issued; a Permanent cookie also gets it as its Max-Age.
func sessionPersistence(s *gwv1.SessionPersistence) *config.SessionPersistence {
	if s == nil {
		return nil
	}
	out := &config.SessionPersistence{Type: config.SessionPersistenceType(deref(s.Type, gwv1.CookieBasedSessionPersistence)),
		SessionName: defaultSessionName}
	switch {
	case out.Type == config.SessionPersistenceHeader && s.Header != nil:
		out.SessionName = string(s.Header.Name)
	case s.Cookie != nil && s.Cookie.Name != nil:
		out.SessionName = string(*s.Cookie.Name)
	}
	if out.Type != config.SessionPersistenceHeader && s.Cookie != nil && deref(s.Cookie.Path, "/") != "/" {
		out.CookiePath = *s.Cookie.Path
	}
	out.Lifetime = duration(s.AbsoluteTimeout)
	if out.Type != config.SessionPersistenceHeader && (s.Cookie == nil || deref(s.Cookie.LifetimeType, gwv1.SessionCookieLifetimeType) == gwv1.PermanentCookieLifetimeType) {
		out.AbsoluteTimeout = out.Lifetime
	}
	return out
}

// grpcPath turns a GRPCRoute method match into an HTTP path match on /service/method.
func grpcPath(m *gwv1.GRPCMethodMatch) *config.PathMatch {
	if m == nil || (m.Service == nil && m.Method == nil) {
		return nil
	}
	svc, meth := deref(m.Service, ""), deref(m.Method, "")
	if deref(m.Type, gwv1.GRPCMethodMatchExact) == gwv1.GRPCMethodMatchRegularExpression {
		if svc == "" {
			svc = "[^/]+"
		}
		if meth == "" {
			meth = "[^/]+"
		}
		return &config.PathMatch{Type: config.PathMatchRegularExpression, Value: "/" + svc + "/" + meth}
	}
	switch {
	case svc != "" && meth != "":
		return &config.PathMatch{Type: config.PathMatchExact, Value: "/" + svc + "/" + meth}
	case svc != "":
		return &config.PathMatch{Type: config.PathMatchPathPrefix, Value: "/" + svc}
	default:
		return &config.PathMatch{Type: config.PathMatchRegularExpression, Value: "/[^/]+/" + regexpQuote(meth)}
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, c) {
			b.WriteRune('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func terminal(fs []config.HTTPFilter) bool {
	for _, f := range fs {
		if f.RequestRedirect != nil || f.DirectResponse != nil {
			return true
		}
	}
	return false
}
