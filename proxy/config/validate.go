package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/bits"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
)

// FieldError is one validation problem at a field path such as
// "binds[0].listeners[1].tls.certificates[0]".
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every validation problem of a config, in field order.
type Errors []FieldError

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return "invalid config: " + strings.Join(msgs, "; ")
}

// Validate checks the whole config and returns nil or an Errors value that
// lists every problem with its field path, so one round trip reports all of
// them. A config that passes Validate always compiles in the proxy: the
// proxy never finds a problem later that Validate could have reported.
func (c *Config) Validate() error {
	v := &validator{path: make([]byte, 0, 128)}
	v.config(c)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

// ValidateExcept is Validate that does not check again the HTTP routes for which
// known(bi, li, ri) returns true, for c.Binds[bi].Listeners[li].HTTPRoutes[ri]: the caller
// has validated them before, unchanged and with the same backends, binds and listeners.
// Their keys still count in the check for duplicates, so the errors are Validate's
// whenever known is right. The operator uses it for the routes whose encodings it reused,
// the proxy for the routes its route cache kept.
func (c *Config) ValidateExcept(known func(bi, li, ri int) bool) error {
	v := &validator{path: make([]byte, 0, 128), known: known}
	v.config(c)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs Errors
	// known says which HTTP routes not to check (ValidateExcept); nil checks all. bi and
	// li are the indexes of the bind and listener being checked.
	known  func(bi, li, ri int) bool
	bi, li int
	// backends are the config's backends, set once they are all checked; routes look
	// them up by name with v.backend.
	backends []Backend
	// byName is the first backend of each name, only for configs with many backends: a
	// linear search over a few is cheaper than building a map, and the operator validates
	// a config per route holding just that route's backends.
	byName map[string]*Backend
	// path is the field path of what is being checked, such as "binds[0].listeners[1]":
	// one buffer extended on the way down (in) and cut back on the way up (out), turned
	// into a string only when a problem is reported. The operator validates configs with
	// thousands of routes on every change; formatting every field's path up front was most
	// of the cost of a valid config.
	path []byte
}

// in appends s and, when i >= 0, "[i]" to the path. It returns the length to restore
// with out.
func (v *validator) in(s string, i int) int {
	n := len(v.path)
	v.path = append(v.path, s...)
	if i >= 0 {
		v.path = append(v.path, '[')
		v.path = strconv.AppendInt(v.path, int64(i), 10)
		v.path = append(v.path, ']')
	}
	return n
}

// out restores the path to what it was before the in that returned n.
func (v *validator) out(n int) { v.path = v.path[:n] }

// manyBackends is the number of backends above which lookups go through a map.
const manyBackends = 8

// backend returns the first backend named name, or nil (always for ""; an unnamed backend
// is an error of its own, never a target).
func (v *validator) backend(name string) *Backend {
	if v.byName != nil {
		return v.byName[name]
	}
	if name == "" {
		return nil
	}
	for i := range v.backends {
		if v.backends[i].Name == name {
			return &v.backends[i]
		}
	}
	return nil
}

// addf reports a problem at the current path followed by sub (".port", say).
func (v *validator) addf(sub, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: string(v.path) + sub, Msg: fmt.Sprintf(format, args...)})
}

// addAt reports a problem at element i of the list field at the current path followed by
// field (".alpn", say).
func (v *validator) addAt(field string, i int, format string, args ...any) {
	n := v.in(field, i)
	v.addf("", format, args...)
	v.out(n)
}

func (v *validator) config(c *Config) {
	if c.Version == "" {
		v.addf("version", "required: set a snapshot version so reloads and NACKs can be told apart")
	}
	// Backends first so routes can check their references.
	if len(c.Backends) > manyBackends {
		v.byName = make(map[string]*Backend, len(c.Backends))
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		n := v.in("backends", i)
		switch {
		case b.Name == "":
			v.addf(".name", "required")
		case v.byName != nil:
			if _, dup := v.byName[b.Name]; dup {
				v.addf(".name", "duplicate backend name %q", b.Name)
			} else {
				v.byName[b.Name] = b
			}
		case slices.ContainsFunc(c.Backends[:i], func(o Backend) bool { return o.Name == b.Name }):
			v.addf(".name", "duplicate backend name %q", b.Name)
		}
		v.checkBackend(b)
		v.out(n)
	}
	v.backends = c.Backends
	type sock struct {
		network, address string
		port             int
		bind             string
	}
	var few [4]sock // most configs have a bind or two: no allocation for them
	socks := few[:0]
	names := map[string]bool{}
	// claim reports two binds that would fight over one socket. An empty or
	// unspecified address overlaps every address on that port.
	claim := func(network string, b *Bind) {
		for _, s := range socks {
			if s.network != network || s.port != b.Port {
				continue
			}
			if s.address == b.Address || isAnyAddress(s.address) || isAnyAddress(b.Address) {
				v.addf("", "%s port %d is already used by bind %q; merge the listeners into one bind", network, b.Port, s.bind)
				return
			}
		}
		socks = append(socks, sock{network, b.Address, b.Port, b.Name})
	}
	for i := range c.Binds {
		b := &c.Binds[i]
		n := v.in("binds", i)
		if b.Name == "" {
			v.addf(".name", "required")
		} else if names[b.Name] {
			v.addf(".name", "duplicate bind name %q", b.Name)
		}
		names[b.Name] = true
		v.bi = i
		v.bind(b)
		if b.Port >= 1 && b.Port <= 65535 {
			switch b.Protocol {
			case ProtocolUDP:
				claim("udp", b)
			default:
				claim("tcp", b)
				if b.HTTP3 {
					claim("udp", b)
				}
			}
		}
		v.out(n)
	}
}

func (v *validator) bind(b *Bind) {
	if b.Port < 1 || b.Port > 65535 {
		v.addf(".port", "must be 1-65535, got %d", b.Port)
	}
	if b.Address != "" && net.ParseIP(b.Address) == nil {
		v.addf(".address", "must be an IP address, got %q", b.Address)
	}
	switch b.Protocol {
	case ProtocolHTTP, ProtocolHTTPS, ProtocolTLS, ProtocolTCP, ProtocolUDP:
	default:
		v.addf(".protocol", "must be one of HTTP, HTTPS, TLS, TCP, UDP; got %q", b.Protocol)
	}
	if b.HTTP3 && b.Protocol != ProtocolHTTPS {
		v.addf(".http3", "only HTTPS binds can serve HTTP/3")
	}
	if b.Frontend != nil {
		n := v.in(".frontend", -1)
		v.bindFrontend(b)
		v.out(n)
	}
	if len(b.Listeners) == 0 {
		v.addf(".listeners", "at least one listener is required")
	}
	if (b.Protocol == ProtocolTCP || b.Protocol == ProtocolUDP) && len(b.Listeners) > 1 {
		v.addf(".listeners", "%s binds take exactly one listener (no hostname to tell them apart)", b.Protocol)
	}
	names := map[string]bool{}
	hosts := map[string]string{}
	for i := range b.Listeners {
		l := &b.Listeners[i]
		n := v.in(".listeners", i)
		if l.Name == "" {
			v.addf(".name", "required")
		} else if names[l.Name] {
			v.addf(".name", "duplicate listener name %q in this bind", l.Name)
		}
		names[l.Name] = true
		if other, ok := hosts[l.Hostname]; ok {
			v.addf(".hostname", "hostname %q is already used by listener %q on this port", l.Hostname, other)
		} else {
			hosts[l.Hostname] = l.Name
		}
		v.li = i
		v.listener(b, l)
		v.out(n)
	}
}

func (v *validator) listener(b *Bind, l *Listener) {
	v.listenerAccessLog(b, l)
	v.listenerTracing(b, l)
	v.preRouting(b, l)
	if l.Protocol != b.Protocol {
		v.addf(".protocol", "must equal the bind protocol %q, got %q", b.Protocol, l.Protocol)
	}
	if l.Hostname != "" {
		if b.Protocol == ProtocolTCP || b.Protocol == ProtocolUDP {
			v.addf(".hostname", "not allowed for %s listeners", b.Protocol)
		} else if err := checkHostname(l.Hostname); err != nil {
			v.addf(".hostname", "%v", err)
		}
	}
	switch b.Protocol {
	case ProtocolHTTPS, ProtocolTLS:
		if l.TLS == nil {
			v.addf(".tls", "required for %s listeners", b.Protocol)
		} else {
			n := v.in(".tls", -1)
			v.listenerTLS(b, l.TLS)
			v.out(n)
		}
	default:
		if l.TLS != nil {
			v.addf(".tls", "not allowed for %s listeners", b.Protocol)
		}
	}
	switch b.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		if len(l.L4Routes) > 0 {
			v.addf(".l4Routes", "not allowed on %s listeners; use httpRoutes", b.Protocol)
		}
		keys := make(map[string]bool, len(l.HTTPRoutes))
		for i := range l.HTTPRoutes {
			n := v.in(".httpRoutes", i)
			r := &l.HTTPRoutes[i]
			v.routeMeta(&r.RouteMeta, keys)
			if v.known == nil || !v.known(v.bi, v.li, i) {
				v.httpRoute(l, r)
			}
			v.out(n)
		}
	default:
		if len(l.HTTPRoutes) > 0 {
			v.addf(".httpRoutes", "not allowed on %s listeners; use l4Routes", b.Protocol)
		}
		keys := make(map[string]bool, len(l.L4Routes))
		for i := range l.L4Routes {
			n := v.in(".l4Routes", i)
			r := &l.L4Routes[i]
			v.routeMeta(&r.RouteMeta, keys)
			if len(r.Hostnames) > 0 && b.Protocol != ProtocolTLS {
				v.addf(".hostnames", "only TLS routes match hostnames (SNI)")
			}
			for j, h := range r.Hostnames {
				if err := checkHostname(h); err != nil {
					v.addAt(".hostnames", j, "%v", err)
				}
			}
			if len(r.BackendRefs) == 0 {
				v.addf(".backendRefs", "at least one backendRef is required")
			}
			for j := range r.BackendRefs {
				bn := v.in(".backendRefs", j)
				v.backendRef(&r.BackendRefs[j])
				if len(r.BackendRefs[j].Filters) > 0 {
					v.addf(".filters", "not allowed on L4 routes")
				}
				v.out(bn)
			}
			v.out(n)
		}
	}
}

// EffectiveKey is the route's Key, defaulting to namespace/name.
func (m *RouteMeta) EffectiveKey() string {
	if m.Key != "" {
		return m.Key
	}
	return m.Namespace + "/" + m.Name
}

func (v *validator) routeMeta(m *RouteMeta, keys map[string]bool) {
	if m.Namespace == "" {
		v.addf(".namespace", "required (it orders routes on precedence ties)")
	}
	if m.Name == "" {
		v.addf(".name", "required (it orders routes on precedence ties)")
	}
	k := m.EffectiveKey()
	if keys[k] {
		v.addf(".key", "duplicate route key %q on this listener", k)
	}
	keys[k] = true
}

func (v *validator) listenerTLS(b *Bind, t *ListenerTLS) {
	switch t.Mode {
	case "", TLSModeTerminate:
		if len(t.Certificates) == 0 {
			v.addf(".certificates", "at least one certificate is required to terminate TLS")
		}
	case TLSModePassthrough:
		if b.Protocol != ProtocolTLS {
			v.addf(".mode", "Passthrough is only valid on TLS binds")
		}
		if len(t.Certificates) > 0 || t.ClientValidation != nil {
			v.addf(".mode", "Passthrough listeners take no certificates or client validation")
		}
	default:
		v.addf(".mode", "must be Terminate or Passthrough, got %q", t.Mode)
	}
	for i := range t.Certificates {
		n := v.in(".certificates", i)
		v.certificate(&t.Certificates[i])
		v.out(n)
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		v.addf(".minVersion", "must be \"1.2\" or \"1.3\", got %q", t.MinVersion)
	}
	for i, a := range t.ALPN {
		if a == "" {
			v.addAt(".alpn", i, "must not be empty")
		}
	}
	v.cipherSuites(t)
	if cv := t.ClientValidation; cv != nil {
		if _, err := ParseCAs(cv.CACertificates); err != nil {
			v.addf(".clientValidation.caCertificates", "%v", err)
		}
		switch cv.Mode {
		case "", ClientValidationAllowValidOnly, ClientValidationAllowInsecureFallback:
		default:
			v.addf(".clientValidation.mode", "must be AllowValidOnly or AllowInsecureFallback, got %q", cv.Mode)
		}
	}
}

func (v *validator) certificate(c *Certificate) {
	if c.CertChain == "" || c.PrivateKey == "" {
		v.addf("", "certChain and privateKey are both required (PEM)")
		return
	}
	if _, err := tls.X509KeyPair([]byte(c.CertChain), []byte(c.PrivateKey)); err != nil {
		v.addf("", "invalid key pair: %v", err)
	}
}

// ParseCAs parses a PEM CA bundle, requiring at least one certificate.
func ParseCAs(pemData string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemData)) {
		return nil, fmt.Errorf("no PEM certificate found; give one or more CERTIFICATE blocks")
	}
	return pool, nil
}

func (v *validator) httpRoute(_ *Listener, r *HTTPRoute) {
	for i, h := range r.Hostnames {
		if err := checkHostname(h); err != nil {
			v.addAt(".hostnames", i, "%v", err)
		}
	}
	if len(r.Rules) == 0 {
		v.addf(".rules", "at least one rule is required (use one rule with no matches to match everything)")
	}
	for i := range r.Rules {
		n := v.in(".rules", i)
		v.httpRule(&r.Rules[i])
		v.out(n)
	}
}

// validHeaderName says whether s is a non-empty RFC 9110 token, the syntax of a header
// name. It is checked for every header of every route; httpguts' byte table is several
// times cheaper than the equivalent regular expression ^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$
// (TestValidHeaderNameMatchesRegexp).
func validHeaderName(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// validMethod says whether s is a non-empty run of upper-case ASCII letters, as
// ^[A-Z]+$ would (TestValidMethodMatchesRegexp).
func validMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func (v *validator) httpRule(r *HTTPRouteRule) {
	allPrefix := true
	for i := range r.Matches {
		m := &r.Matches[i]
		n := v.in(".matches", i)
		if m.Path != nil {
			switch m.Path.Type {
			case "", PathMatchPathPrefix, PathMatchExact:
				if !strings.HasPrefix(m.Path.Value, "/") {
					v.addf(".path.value", "must start with \"/\", got %q", m.Path.Value)
				}
			case PathMatchRegularExpression:
				if _, err := regexp.Compile(m.Path.Value); err != nil {
					v.addf(".path.value", "invalid RE2 regular expression: %v", err)
				}
			default:
				v.addf(".path.type", "must be Exact, PathPrefix or RegularExpression, got %q", m.Path.Type)
			}
			if m.Path.Type != "" && m.Path.Type != PathMatchPathPrefix {
				allPrefix = false
			}
		}
		for j, h := range m.Headers {
			hn := v.in(".headers", j)
			if !validHeaderName(h.Name) {
				v.addf(".name", "invalid header name %q", h.Name)
			}
			v.matchValue(h.Type, h.Value)
			v.out(hn)
		}
		for j, q := range m.QueryParams {
			qn := v.in(".queryParams", j)
			if q.Name == "" {
				v.addf(".name", "required")
			}
			v.matchValue(q.Type, q.Value)
			v.out(qn)
		}
		if m.Method != "" && !validMethod(m.Method) {
			v.addf(".method", "must be an upper-case HTTP method, got %q", m.Method)
		}
		v.out(n)
	}
	n := v.in(".filters", -1)
	terminal := v.filters(r.Filters, allPrefix, false)
	v.out(n)
	if terminal && len(r.BackendRefs) > 0 {
		// The spec allows it, but the backends would never be used:
		// reject so the operator notices.
		v.addf(".backendRefs", "must be empty when the rule has a RequestRedirect or DirectResponse filter")
	}
	rulePath := rewritesPath(r.Filters)
	for i := range r.BackendRefs {
		bn := v.in(".backendRefs", i)
		v.backendRef(&r.BackendRefs[i])
		fn := v.in(".filters", -1)
		v.filters(r.BackendRefs[i].Filters, allPrefix, true)
		for j, f := range r.BackendRefs[i].Filters {
			if rulePath && f.URLRewrite != nil && f.URLRewrite.Path != nil && f.URLRewrite.Path.Type == ReplacePrefixMatch {
				v.addAt("", j, "urlRewrite.path ReplacePrefixMatch cannot follow the rule's urlRewrite of the path: the matched prefix is gone by then; use ReplaceFullPath or rewrite the path in one place")
			}
		}
		v.out(fn)
		v.out(bn)
	}
	if t := r.Timeouts; t != nil {
		if t.Request != nil && t.Request.Duration < 0 {
			v.addf(".timeouts.request", "must not be negative")
		}
		if t.BackendRequest != nil && t.BackendRequest.Duration < 0 {
			v.addf(".timeouts.backendRequest", "must not be negative")
		}
		if t.Request != nil && t.BackendRequest != nil && t.Request.Duration > 0 && t.BackendRequest.Duration > t.Request.Duration {
			v.addf(".timeouts.backendRequest", "must not exceed timeouts.request (%s)", t.Request.Duration)
		}
	}
	if rt := r.Retry; rt != nil {
		if rt.Attempts < 1 || rt.Attempts > 10 {
			v.addf(".retry.attempts", "must be 1-10, got %d", rt.Attempts)
		}
		for i, c := range rt.Codes {
			if c < 400 || c > 599 {
				v.addAt(".retry.codes", i, "must be 400-599, got %d", c)
			}
		}
		if rt.Backoff != nil && rt.Backoff.Duration < 0 {
			v.addf(".retry.backoff", "must not be negative")
		}
		if rt.Budget != nil {
			n := v.in(".retry.budget", -1)
			v.retryBudget(rt.Budget)
			v.out(n)
		}
	}
	if tp := r.Traffic; tp != nil {
		n := v.in(".traffic", -1)
		v.traffic(tp)
		v.out(n)
	}
	if sp := r.SessionPersistence; sp != nil {
		switch sp.Type {
		case "", SessionPersistenceCookie, SessionPersistenceHeader:
		default:
			v.addf(".sessionPersistence.type", "must be Cookie or Header, got %q", sp.Type)
		}
		if sp.SessionName == "" || !validHeaderName(sp.SessionName) {
			v.addf(".sessionPersistence.sessionName", "must be a valid cookie or header name, got %q", sp.SessionName)
		}
		if sp.AbsoluteTimeout != nil && sp.AbsoluteTimeout.Duration <= 0 {
			v.addf(".sessionPersistence.absoluteTimeout", "must be positive")
		}
		if sp.Lifetime != nil && sp.Lifetime.Duration < time.Second {
			v.addf(".sessionPersistence.lifetime", "must be at least 1s")
		}
		if p := sp.CookiePath; p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsFunc(p, func(r rune) bool { return r == ';' || r < 0x20 || r == 0x7f })) {
			v.addf(".sessionPersistence.cookiePath", "must be an absolute path without ';' or control characters, got %q", p)
		}
		if sp.CookiePath != "" && sp.Type == SessionPersistenceHeader {
			v.addf(".sessionPersistence.cookiePath", "only applies to Cookie sessions")
		}
	}
}

func (v *validator) transformation(r *TransformationRules, response bool) {
	if r == nil {
		return
	}
	phase := cel.PhaseRequestHeaders
	if response {
		phase = cel.PhaseResponse
	} else if r.Body != "" {
		phase = cel.PhaseRequestBody
	}
	if r.When != "" {
		if _, err := cel.Compile(phase, cel.KindCondition, r.When); err != nil {
			v.addf(".when", "%v", err)
		}
	}
	for _, group := range []struct {
		name string
		list []HeaderTransformation
	}{{".set", r.Set}, {".add", r.Add}} {
		for i, h := range group.list {
			n := v.in(group.name, i)
			if !validHeaderName(h.Name) {
				v.addf(".name", "invalid header name %q", h.Name)
			}
			if _, err := cel.Compile(phase, cel.KindHeaderValue, h.Value); err != nil {
				v.addf(".value", "%v", err)
			}
			v.out(n)
		}
	}
	for i, h := range r.Remove {
		if !validHeaderName(h) {
			v.addAt(".remove", i, "invalid header name %q", h)
		}
	}
	if r.Body != "" {
		if _, err := cel.Compile(phase, cel.KindBody, r.Body); err != nil {
			v.addf(".body", "%v", err)
		}
	}
}

// extAuth checks an ExtAuth, at the current path.
func (v *validator) extAuth(e *ExtAuth) {
	if v.backend(e.Backend) == nil {
		v.addf(".backend", "unknown backend %q; add it to backends", e.Backend)
	}
	switch e.Protocol {
	case "", ExtAuthHTTP:
		if len(e.ContextExtensions) > 0 {
			v.addf(".contextExtensions", "only for protocol GRPC")
		}
	case ExtAuthGRPC:
		if e.PathPrefix != "" || len(e.AllowedUpstreamHeaders) > 0 || e.AllUpstreamHeaders || e.Require200 || e.SignInRedirectURL != "" {
			v.addf("", "pathPrefix, allowedUpstreamHeaders, allUpstreamHeaders, require200 and signInRedirectURL are only for protocol HTTP")
		}
	default:
		v.addf(".protocol", "must be HTTP or GRPC, got %q", e.Protocol)
	}
	if e.PathPrefix != "" && !strings.HasPrefix(e.PathPrefix, "/") {
		v.addf(".pathPrefix", "must start with \"/\", got %q", e.PathPrefix)
	}
	for _, seg := range strings.Split(e.PathPrefix, "/") {
		if seg == "." || seg == ".." {
			v.addf(".pathPrefix", "must not contain . or .. segments, got %q", e.PathPrefix)
			break
		}
	}
	if e.AllUpstreamHeaders && len(e.AllowedUpstreamHeaders) > 0 {
		v.addf(".allUpstreamHeaders", "set either allUpstreamHeaders or allowedUpstreamHeaders")
	}
	if e.IncludeBodyBytes < 0 || e.IncludeBodyBytes > 1<<20 {
		v.addf(".includeBodyBytes", "must be 0-1048576, got %d", e.IncludeBodyBytes)
	}
	if e.RejectLargeBody && e.IncludeBodyBytes == 0 {
		v.addf(".rejectLargeBody", "requires includeBodyBytes")
	}
	if e.Timeout != nil && e.Timeout.Duration <= 0 {
		v.addf(".timeout", "must be positive")
	}
	for i, h := range append(append([]string{}, e.ForwardHeaders...), e.AllowedUpstreamHeaders...) {
		if !validHeaderName(h) {
			v.addAt(".headers", i, "invalid header name %q", h)
		}
	}
}

func checkAuthMode(m AuthMode) bool {
	return m == "" || m == AuthModeStrict || m == AuthModeOptional
}

func (v *validator) traffic(tp *TrafficPolicy) {
	v.bodyLimits(tp.BodyLimits)
	if j := tp.JWTAuthentication; j != nil {
		jn := v.in(".jwtAuthentication", -1)
		if !checkAuthMode(j.Mode) {
			v.addf(".mode", "must be Strict or Optional, got %q", j.Mode)
		}
		if len(j.Providers) == 0 {
			v.addf(".providers", "at least one provider is required")
		}
		issuers := map[string]bool{}
		for i, pr := range j.Providers {
			pn := v.in(".providers", i)
			if pr.Issuer == "" {
				v.addf(".issuer", "required")
			} else if issuers[pr.Issuer] {
				v.addf(".issuer", "duplicate issuer %q", pr.Issuer)
			}
			issuers[pr.Issuer] = true
			switch {
			case (pr.JWKS.Inline == "") == (pr.JWKS.RemoteURL == ""):
				v.addf(".jwks", "set exactly one of inline or remoteURL")
			case pr.JWKS.Inline != "":
				if _, err := ParseJWKS([]byte(pr.JWKS.Inline)); err != nil {
					v.addf(".jwks.inline", "%v", err)
				}
			default:
				if !strings.HasPrefix(pr.JWKS.RemoteURL, "https://") && !strings.HasPrefix(pr.JWKS.RemoteURL, "http://") {
					v.addf(".jwks.remoteURL", "must be an http(s) URL, got %q", pr.JWKS.RemoteURL)
				}
			}
			if pr.JWKS.CacheDuration != nil && pr.JWKS.CacheDuration.Duration <= 0 {
				v.addf(".jwks.cacheDuration", "must be positive")
			}
			for k, ch := range pr.ClaimsToHeaders {
				if ch.Claim == "" || !validHeaderName(ch.Header) {
					v.addAt(".claimsToHeaders", k, "claim and a valid header name are required")
				}
			}
			if pr.TokenHeader != "" && !validHeaderName(pr.TokenHeader) {
				v.addf(".tokenHeader", "invalid header name %q", pr.TokenHeader)
			}
			v.out(pn)
		}
		v.out(jn)
	}
	if a := tp.APIKeyAuthentication; a != nil {
		if !checkAuthMode(a.Mode) {
			v.addf(".apiKeyAuthentication.mode", "must be Strict or Optional, got %q", a.Mode)
		}
		if len(a.Keys) == 0 {
			v.addf(".apiKeyAuthentication.keys", "at least one key is required")
		}
		seen := map[string]bool{}
		for i, k := range a.Keys {
			kn := v.in(".apiKeyAuthentication.keys", i)
			if k.Name == "" || k.Key == "" {
				v.addf("", "name and key are required")
			}
			if seen[k.Key] {
				v.addf(".key", "duplicate key (two clients would be indistinguishable)")
			}
			seen[k.Key] = true
			v.out(kn)
		}
		if a.Header != "" && !validHeaderName(a.Header) {
			v.addf(".apiKeyAuthentication.header", "invalid header name %q", a.Header)
		}
	}
	if b := tp.BasicAuthentication; b != nil {
		if !checkAuthMode(b.Mode) {
			v.addf(".basicAuthentication.mode", "must be Strict or Optional, got %q", b.Mode)
		}
		if _, err := ParseHtpasswd(b.Htpasswd); err != nil {
			v.addf(".basicAuthentication.htpasswd", "%v", err)
		}
	}
	if e := tp.ExtAuth; e != nil {
		en := v.in(".extAuth", -1)
		v.extAuth(e)
		v.out(en)
	}
	if t := tp.Transformation; t != nil {
		n := v.in(".transformation.request", -1)
		v.transformation(t.Request, false)
		v.out(n)
		n = v.in(".transformation.response", -1)
		v.transformation(t.Response, true)
		v.out(n)
	}
	if c := tp.CSRF; c != nil {
		for i, o := range c.AdditionalOrigins {
			if !strings.Contains(o, "://") {
				v.addAt(".csrf.additionalOrigins", i, "must be scheme://host[:port], got %q", o)
			}
		}
	}
	if a := tp.Authorization; a != nil {
		switch a.Action {
		case AuthorizationAllow, AuthorizationDeny, AuthorizationRequire:
		default:
			v.addf(".authorization.action", "must be Allow, Deny or Require, got %q", a.Action)
		}
		if len(a.Rules) == 0 {
			v.addf(".authorization.rules", "at least one rule is required")
		}
		for i, expr := range a.Rules {
			if _, err := cel.Compile(cel.PhaseAuthorization, cel.KindCondition, expr); err != nil {
				v.addAt(".authorization.rules", i, "%v", err)
			}
		}
	}
	if a := tp.MCPAuthorization; a != nil {
		switch a.Action {
		case AuthorizationAllow, AuthorizationDeny, AuthorizationRequire:
		default:
			v.addf(".mcpAuthorization.action", "must be Allow, Deny or Require, got %q", a.Action)
		}
		if len(a.Rules) == 0 {
			v.addf(".mcpAuthorization.rules", "at least one rule is required")
		}
		for i, expr := range a.Rules {
			if _, err := cel.Compile(cel.PhaseMCPAuthorization, cel.KindCondition, expr); err != nil {
				v.addAt(".mcpAuthorization.rules", i, "%v", err)
			}
		}
	}
	if rl := tp.RateLimit; rl != nil {
		if len(rl.Local) == 0 && rl.Global == nil {
			v.addf(".rateLimit", "a local or a global limit is required")
		}
		rn := v.in(".rateLimit", -1)
		v.globalRateLimit(rl.Global)
		v.out(rn)
		for i, l := range rl.Local {
			ln := v.in(".rateLimit.local", i)
			if l.Requests < 1 {
				v.addf(".requests", "must be at least 1, got %d", l.Requests)
			}
			switch l.Unit {
			case RateLimitSecond, RateLimitMinute, RateLimitHour:
			default:
				v.addf(".unit", "must be Second, Minute or Hour, got %q", l.Unit)
			}
			if l.Burst != nil && *l.Burst < 1 {
				v.addf(".burst", "must be at least 1, got %d", *l.Burst)
			}
			if l.Key != "" {
				if _, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, l.Key); err != nil {
					v.addf(".key", "%v", err)
				}
			}
			v.out(ln)
		}
	}
}

func (v *validator) matchValue(t MatchType, value string) {
	switch t {
	case "", MatchExact:
	case MatchRegularExpression:
		if _, err := regexp.Compile(value); err != nil {
			v.addf(".value", "invalid RE2 regular expression: %v", err)
		}
	default:
		v.addf(".type", "must be Exact or RegularExpression, got %q", t)
	}
}

// filterKind is a set of HTTPFilter fields, one bit each in field order: checking that a
// rule's filters are not repeated needs no map or slice per rule.
type filterKind uint8

const (
	kindRequestHeaderModifier filterKind = 1 << iota
	kindResponseHeaderModifier
	kindRequestRedirect
	kindURLRewrite
	kindRequestMirror
	kindCORS
	kindDirectResponse
)

// filterKindNames are the JSON names of the filterKind bits, in bit order.
var filterKindNames = [...]string{"requestHeaderModifier", "responseHeaderModifier", "requestRedirect", "urlRewrite", "requestMirror", "cors", "directResponse"}

// names lists the fields in k, in field order.
func (k filterKind) names() []string {
	var out []string
	for i, n := range filterKindNames {
		if k&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// filters validates a filter list and reports whether it ends the request
// at the proxy (redirect or direct response).
func (v *validator) filters(fs []HTTPFilter, allPrefix, backendLevel bool) (terminal bool) {
	var seen filterKind
	for i := range fs {
		f := &fs[i]
		n := v.in("", i)
		k := f.kinds()
		if bits.OnesCount8(uint8(k)) != 1 {
			v.addf("", "exactly one filter type must be set, got %d (%s)", bits.OnesCount8(uint8(k)), strings.Join(k.names(), ", "))
			v.out(n)
			continue
		}
		kind := filterKindNames[bits.TrailingZeros8(uint8(k))]
		if backendLevel && k != kindRequestHeaderModifier && k != kindResponseHeaderModifier && k != kindURLRewrite {
			v.addf("", "only requestHeaderModifier, responseHeaderModifier and urlRewrite are allowed on backendRefs, got %s", kind)
			v.out(n)
			continue
		}
		if k != kindRequestMirror && seen&k != 0 {
			v.addf("", "%s may appear only once per rule", kind)
		}
		seen |= k
		switch {
		case f.RequestHeaderModifier != nil:
			hn := v.in(".requestHeaderModifier", -1)
			v.headerModifier(f.RequestHeaderModifier)
			v.out(hn)
		case f.ResponseHeaderModifier != nil:
			hn := v.in(".responseHeaderModifier", -1)
			v.headerModifier(f.ResponseHeaderModifier)
			v.out(hn)
		case f.RequestRedirect != nil:
			rd := f.RequestRedirect
			rn := v.in(".requestRedirect", -1)
			switch rd.Scheme {
			case "", "http", "https":
			default:
				v.addf(".scheme", "must be http or https, got %q", rd.Scheme)
			}
			if rd.Hostname != "" && checkHostname(rd.Hostname) != nil || strings.HasPrefix(rd.Hostname, "*") {
				v.addf(".hostname", "must be a DNS name, got %q", rd.Hostname)
			}
			if rd.Port < 0 || rd.Port > 65535 {
				v.addf(".port", "must be 1-65535, got %d", rd.Port)
			}
			switch rd.StatusCode {
			case 0, 301, 302, 303, 307, 308:
			default:
				v.addf(".statusCode", "must be 301, 302, 303, 307 or 308, got %d", rd.StatusCode)
			}
			pn := v.in(".path", -1)
			v.pathModifier(rd.Path, allPrefix)
			v.out(pn)
			v.out(rn)
			terminal = true
		case f.URLRewrite != nil:
			if f.URLRewrite.Hostname != "" && (checkHostname(f.URLRewrite.Hostname) != nil || strings.HasPrefix(f.URLRewrite.Hostname, "*")) {
				v.addf(".urlRewrite.hostname", "must be a DNS name, got %q", f.URLRewrite.Hostname)
			}
			pn := v.in(".urlRewrite.path", -1)
			v.pathModifier(f.URLRewrite.Path, allPrefix)
			v.out(pn)
		case f.RequestMirror != nil:
			m := f.RequestMirror
			if v.backend(m.Backend) == nil {
				v.addf(".requestMirror.backend", "unknown backend %q; add it to backends", m.Backend)
			}
			if m.Percent != nil && (*m.Percent < 0 || *m.Percent > 100) {
				v.addf(".requestMirror.percent", "must be 0-100, got %d", *m.Percent)
			}
		case f.CORS != nil:
			for j, o := range f.CORS.AllowOrigins {
				if o != "*" && !strings.Contains(o, "://") {
					v.addAt(".cors.allowOrigins", j, "must be \"*\" or scheme://host[:port], got %q", o)
				}
			}
			if f.CORS.MaxAge < 0 {
				v.addf(".cors.maxAge", "must not be negative")
			}
		case f.DirectResponse != nil:
			if c := f.DirectResponse.StatusCode; c < 200 || c > 599 {
				v.addf(".directResponse.statusCode", "must be 200-599, got %d", c)
			}
			terminal = true
		}
		v.out(n)
	}
	if seen&kindRequestRedirect != 0 && seen&kindURLRewrite != 0 {
		v.addf("", "requestRedirect and urlRewrite cannot be combined")
	}
	if seen&kindRequestRedirect != 0 && seen&kindDirectResponse != 0 {
		v.addf("", "requestRedirect and directResponse cannot be combined")
	}
	return terminal
}

func (f *HTTPFilter) kinds() filterKind {
	var k filterKind
	if f.RequestHeaderModifier != nil {
		k |= kindRequestHeaderModifier
	}
	if f.ResponseHeaderModifier != nil {
		k |= kindResponseHeaderModifier
	}
	if f.RequestRedirect != nil {
		k |= kindRequestRedirect
	}
	if f.URLRewrite != nil {
		k |= kindURLRewrite
	}
	if f.RequestMirror != nil {
		k |= kindRequestMirror
	}
	if f.CORS != nil {
		k |= kindCORS
	}
	if f.DirectResponse != nil {
		k |= kindDirectResponse
	}
	return k
}

func (v *validator) headerModifier(h *HeaderModifier) {
	for i, x := range h.Set {
		if !validHeaderName(x.Name) {
			n := v.in(".set", i)
			v.addf(".name", "invalid header name %q", x.Name)
			v.out(n)
		}
	}
	for i, x := range h.Add {
		if !validHeaderName(x.Name) {
			n := v.in(".add", i)
			v.addf(".name", "invalid header name %q", x.Name)
			v.out(n)
		}
	}
	for i, x := range h.Remove {
		if !validHeaderName(x) {
			v.addAt(".remove", i, "invalid header name %q", x)
		}
	}
}

// rewritesPath reports whether fs holds a URLRewrite with a path modifier.
func rewritesPath(fs []HTTPFilter) bool {
	for i := range fs {
		if fs[i].URLRewrite != nil && fs[i].URLRewrite.Path != nil {
			return true
		}
	}
	return false
}

func (v *validator) pathModifier(m *PathModifier, allPrefix bool) {
	if m == nil {
		return
	}
	switch m.Type {
	case ReplaceFullPath:
		if !strings.HasPrefix(m.ReplaceFullPath, "/") {
			v.addf(".replaceFullPath", "must start with \"/\", got %q", m.ReplaceFullPath)
		}
	case ReplacePrefixMatch:
		if !strings.HasPrefix(m.ReplacePrefixMatch, "/") {
			v.addf(".replacePrefixMatch", "must start with \"/\", got %q", m.ReplacePrefixMatch)
		}
		if !allPrefix {
			v.addf(".type", "ReplacePrefixMatch needs every match of the rule to be a PathPrefix match")
		}
	default:
		v.addf(".type", "must be ReplaceFullPath or ReplacePrefixMatch, got %q", m.Type)
	}
}

func (v *validator) backendRef(r *BackendRef) {
	if r.Weight != nil && (*r.Weight < 0 || *r.Weight > 1000000) {
		v.addf(".weight", "must be 0-1000000, got %d", *r.Weight)
	}
	switch {
	case r.Invalid != "" && r.Backend != "":
		v.addf("", "set either backend or invalid, not both")
	case r.Invalid != "":
	case r.Backend == "":
		v.addf(".backend", "required (or set invalid to answer 500 for this share)")
	default:
		if v.backend(r.Backend) == nil {
			v.addf(".backend", "unknown backend %q; add it to backends or mark the ref invalid", r.Backend)
		}
	}
}

func (v *validator) checkBackend(b *Backend) {
	v.backendAuth(b)
	v.mcpBackend(b)
	switch b.Protocol {
	case "", BackendHTTP1, BackendH2C, BackendTCP:
	case BackendH2:
		if b.TLS == nil {
			v.addf(".tls", "required for protocol H2 (use H2C for cleartext HTTP/2)")
		}
	default:
		v.addf(".protocol", "must be HTTP1, H2C, H2 or TCP, got %q", b.Protocol)
	}
	for i, e := range b.Endpoints {
		n := v.in(".endpoints", i)
		host, port, err := net.SplitHostPort(e.Address)
		if err != nil || host == "" {
			v.addf(".address", "must be host:port, got %q", e.Address)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.addf(".address", "port must be 1-65535, got %q", port)
		}
		if e.Weight < 0 || e.Weight > 1000000 {
			v.addf(".weight", "must be 0-1000000, got %d", e.Weight)
		}
		v.out(n)
	}
	if t := b.TLS; t != nil {
		if t.CACertificates != "" {
			if _, err := ParseCAs(t.CACertificates); err != nil {
				v.addf(".tls.caCertificates", "%v", err)
			}
		}
		if t.ClientCertificate != nil {
			n := v.in(".tls.clientCertificate", -1)
			v.certificate(t.ClientCertificate)
			v.out(n)
		}
	}
	if b.ConnectTimeout != nil && b.ConnectTimeout.Duration <= 0 {
		v.addf(".connectTimeout", "must be positive")
	}
	if rb := b.RetryBudget; rb != nil {
		if b.Protocol == BackendTCP {
			v.addf(".retryBudget", "only for HTTP backends: TCP connections are not retried")
		}
		n := v.in(".retryBudget", -1)
		v.retryBudget(rb)
		v.out(n)
	}
	v.resilience(b)
}

func (v *validator) retryBudget(b *RetryBudget) {
	if b.Percent < 0 || b.Percent > 100 {
		v.addf(".percent", "must be 0-100, got %d", b.Percent)
	}
	if b.Interval != nil && b.Interval.Duration <= 0 {
		v.addf(".interval", "must be positive")
	}
	if b.MinRetries < 0 {
		v.addf(".minRetries", "must not be negative, got %d", b.MinRetries)
	}
	if b.MinRetryInterval != nil && b.MinRetryInterval.Duration <= 0 {
		v.addf(".minRetryInterval", "must be positive")
	}
}

func isAnyAddress(a string) bool {
	if a == "" {
		return true
	}
	ip := net.ParseIP(a)
	return ip != nil && ip.IsUnspecified()
}

// checkHostname accepts a lower-case DNS name or a wildcard "*.suffix", as
// Gateway API hostnames (no IPs, no ports, no trailing dot).
func checkHostname(h string) error {
	name := h
	if strings.HasPrefix(h, "*.") {
		name = h[2:]
	}
	if name == "" || len(h) > 253 {
		return fmt.Errorf("invalid hostname %q", h)
	}
	if mayBeIP(name) && net.ParseIP(name) != nil {
		return fmt.Errorf("hostname %q is an IP address; hostnames must be DNS names", h)
	}
	// Label by label without strings.Split: every route hostname is checked.
	for rest := name; ; {
		label, tail, more := strings.Cut(rest, ".")
		if len(label) == 0 || len(label) > 63 {
			return fmt.Errorf("invalid hostname %q: empty or too long label", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(label)-1
			if !ok {
				return fmt.Errorf("invalid hostname %q: use lower-case letters, digits and inner '-' (wildcards only as a leading \"*.\")", h)
			}
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// mayBeIP is false for strings net.ParseIP certainly rejects: an IPv6 address has a ':',
// an IPv4 address only digits and dots. Most hostnames skip the parse (and the error value
// it allocates) this way.
func mayBeIP(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}
