package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

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
	v := &validator{backends: map[string]*Backend{}}
	v.config(c)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs     Errors
	backends map[string]*Backend
}

func (v *validator) addf(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) config(c *Config) {
	if c.Version == "" {
		v.addf("version", "required: set a snapshot version so reloads and NACKs can be told apart")
	}
	// Backends first so routes can check their references.
	for i := range c.Backends {
		b := &c.Backends[i]
		p := fmt.Sprintf("backends[%d]", i)
		if b.Name == "" {
			v.addf(p+".name", "required")
		} else if _, dup := v.backends[b.Name]; dup {
			v.addf(p+".name", "duplicate backend name %q", b.Name)
		} else {
			v.backends[b.Name] = b
		}
		v.backend(p, b)
	}
	type sock struct {
		network, address string
		port             int
		bind             string
	}
	var socks []sock
	names := map[string]bool{}
	// claim reports two binds that would fight over one socket. An empty or
	// unspecified address overlaps every address on that port.
	claim := func(p string, network string, b *Bind) {
		for _, s := range socks {
			if s.network != network || s.port != b.Port {
				continue
			}
			if s.address == b.Address || isAnyAddress(s.address) || isAnyAddress(b.Address) {
				v.addf(p, "%s port %d is already used by bind %q; merge the listeners into one bind", network, b.Port, s.bind)
				return
			}
		}
		socks = append(socks, sock{network, b.Address, b.Port, b.Name})
	}
	for i := range c.Binds {
		b := &c.Binds[i]
		p := fmt.Sprintf("binds[%d]", i)
		if b.Name == "" {
			v.addf(p+".name", "required")
		} else if names[b.Name] {
			v.addf(p+".name", "duplicate bind name %q", b.Name)
		}
		names[b.Name] = true
		v.bind(p, b)
		if b.Port >= 1 && b.Port <= 65535 {
			switch b.Protocol {
			case ProtocolUDP:
				claim(p, "udp", b)
			default:
				claim(p, "tcp", b)
				if b.HTTP3 {
					claim(p, "udp", b)
				}
			}
		}
	}
}

func (v *validator) bind(p string, b *Bind) {
	if b.Port < 1 || b.Port > 65535 {
		v.addf(p+".port", "must be 1-65535, got %d", b.Port)
	}
	if b.Address != "" && net.ParseIP(b.Address) == nil {
		v.addf(p+".address", "must be an IP address, got %q", b.Address)
	}
	switch b.Protocol {
	case ProtocolHTTP, ProtocolHTTPS, ProtocolTLS, ProtocolTCP, ProtocolUDP:
	default:
		v.addf(p+".protocol", "must be one of HTTP, HTTPS, TLS, TCP, UDP; got %q", b.Protocol)
	}
	if b.HTTP3 && b.Protocol != ProtocolHTTPS {
		v.addf(p+".http3", "only HTTPS binds can serve HTTP/3")
	}
	if len(b.Listeners) == 0 {
		v.addf(p+".listeners", "at least one listener is required")
	}
	if (b.Protocol == ProtocolTCP || b.Protocol == ProtocolUDP) && len(b.Listeners) > 1 {
		v.addf(p+".listeners", "%s binds take exactly one listener (no hostname to tell them apart)", b.Protocol)
	}
	names := map[string]bool{}
	hosts := map[string]string{}
	for i := range b.Listeners {
		l := &b.Listeners[i]
		lp := fmt.Sprintf("%s.listeners[%d]", p, i)
		if l.Name == "" {
			v.addf(lp+".name", "required")
		} else if names[l.Name] {
			v.addf(lp+".name", "duplicate listener name %q in this bind", l.Name)
		}
		names[l.Name] = true
		if other, ok := hosts[l.Hostname]; ok {
			v.addf(lp+".hostname", "hostname %q is already used by listener %q on this port", l.Hostname, other)
		} else {
			hosts[l.Hostname] = l.Name
		}
		v.listener(lp, b, l)
	}
}

func (v *validator) listener(p string, b *Bind, l *Listener) {
	if l.Protocol != b.Protocol {
		v.addf(p+".protocol", "must equal the bind protocol %q, got %q", b.Protocol, l.Protocol)
	}
	if l.Hostname != "" {
		if b.Protocol == ProtocolTCP || b.Protocol == ProtocolUDP {
			v.addf(p+".hostname", "not allowed for %s listeners", b.Protocol)
		} else if err := checkHostname(l.Hostname); err != nil {
			v.addf(p+".hostname", "%v", err)
		}
	}
	switch b.Protocol {
	case ProtocolHTTPS, ProtocolTLS:
		if l.TLS == nil {
			v.addf(p+".tls", "required for %s listeners", b.Protocol)
		} else {
			v.listenerTLS(p+".tls", b, l.TLS)
		}
	default:
		if l.TLS != nil {
			v.addf(p+".tls", "not allowed for %s listeners", b.Protocol)
		}
	}
	switch b.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		if len(l.L4Routes) > 0 {
			v.addf(p+".l4Routes", "not allowed on %s listeners; use httpRoutes", b.Protocol)
		}
		keys := map[string]bool{}
		for i := range l.HTTPRoutes {
			rp := fmt.Sprintf("%s.httpRoutes[%d]", p, i)
			r := &l.HTTPRoutes[i]
			v.routeMeta(rp, &r.RouteMeta, keys)
			v.httpRoute(rp, l, r)
		}
	default:
		if len(l.HTTPRoutes) > 0 {
			v.addf(p+".httpRoutes", "not allowed on %s listeners; use l4Routes", b.Protocol)
		}
		keys := map[string]bool{}
		for i := range l.L4Routes {
			rp := fmt.Sprintf("%s.l4Routes[%d]", p, i)
			r := &l.L4Routes[i]
			v.routeMeta(rp, &r.RouteMeta, keys)
			if len(r.Hostnames) > 0 && b.Protocol != ProtocolTLS {
				v.addf(rp+".hostnames", "only TLS routes match hostnames (SNI)")
			}
			for j, h := range r.Hostnames {
				if err := checkHostname(h); err != nil {
					v.addf(fmt.Sprintf("%s.hostnames[%d]", rp, j), "%v", err)
				}
			}
			if len(r.BackendRefs) == 0 {
				v.addf(rp+".backendRefs", "at least one backendRef is required")
			}
			for j := range r.BackendRefs {
				bp := fmt.Sprintf("%s.backendRefs[%d]", rp, j)
				v.backendRef(bp, &r.BackendRefs[j])
				if len(r.BackendRefs[j].Filters) > 0 {
					v.addf(bp+".filters", "not allowed on L4 routes")
				}
			}
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

func (v *validator) routeMeta(p string, m *RouteMeta, keys map[string]bool) {
	if m.Namespace == "" {
		v.addf(p+".namespace", "required (it orders routes on precedence ties)")
	}
	if m.Name == "" {
		v.addf(p+".name", "required (it orders routes on precedence ties)")
	}
	k := m.EffectiveKey()
	if keys[k] {
		v.addf(p+".key", "duplicate route key %q on this listener", k)
	}
	keys[k] = true
}

func (v *validator) listenerTLS(p string, b *Bind, t *ListenerTLS) {
	switch t.Mode {
	case "", TLSModeTerminate:
		if len(t.Certificates) == 0 {
			v.addf(p+".certificates", "at least one certificate is required to terminate TLS")
		}
	case TLSModePassthrough:
		if b.Protocol != ProtocolTLS {
			v.addf(p+".mode", "Passthrough is only valid on TLS binds")
		}
		if len(t.Certificates) > 0 || t.ClientValidation != nil {
			v.addf(p+".mode", "Passthrough listeners take no certificates or client validation")
		}
	default:
		v.addf(p+".mode", "must be Terminate or Passthrough, got %q", t.Mode)
	}
	for i := range t.Certificates {
		v.certificate(fmt.Sprintf("%s.certificates[%d]", p, i), &t.Certificates[i])
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		v.addf(p+".minVersion", "must be \"1.2\" or \"1.3\", got %q", t.MinVersion)
	}
	for i, a := range t.ALPN {
		if a == "" {
			v.addf(fmt.Sprintf("%s.alpn[%d]", p, i), "must not be empty")
		}
	}
	if cv := t.ClientValidation; cv != nil {
		if _, err := ParseCAs(cv.CACertificates); err != nil {
			v.addf(p+".clientValidation.caCertificates", "%v", err)
		}
		switch cv.Mode {
		case "", ClientValidationAllowValidOnly, ClientValidationAllowInsecureFallback:
		default:
			v.addf(p+".clientValidation.mode", "must be AllowValidOnly or AllowInsecureFallback, got %q", cv.Mode)
		}
	}
}

func (v *validator) certificate(p string, c *Certificate) {
	if c.CertChain == "" || c.PrivateKey == "" {
		v.addf(p, "certChain and privateKey are both required (PEM)")
		return
	}
	if _, err := tls.X509KeyPair([]byte(c.CertChain), []byte(c.PrivateKey)); err != nil {
		v.addf(p, "invalid key pair: %v", err)
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

func (v *validator) httpRoute(p string, l *Listener, r *HTTPRoute) {
	for i, h := range r.Hostnames {
		if err := checkHostname(h); err != nil {
			v.addf(fmt.Sprintf("%s.hostnames[%d]", p, i), "%v", err)
		}
	}
	if len(r.Rules) == 0 {
		v.addf(p+".rules", "at least one rule is required (use one rule with no matches to match everything)")
	}
	for i := range r.Rules {
		v.httpRule(fmt.Sprintf("%s.rules[%d]", p, i), &r.Rules[i])
	}
}

var (
	headerNameRE = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
	methodRE     = regexp.MustCompile(`^[A-Z]+$`)
)

func (v *validator) httpRule(p string, r *HTTPRouteRule) {
	allPrefix := true
	for i := range r.Matches {
		m := &r.Matches[i]
		mp := fmt.Sprintf("%s.matches[%d]", p, i)
		if m.Path != nil {
			switch m.Path.Type {
			case "", PathMatchPathPrefix, PathMatchExact:
				if !strings.HasPrefix(m.Path.Value, "/") {
					v.addf(mp+".path.value", "must start with \"/\", got %q", m.Path.Value)
				}
			case PathMatchRegularExpression:
				if _, err := regexp.Compile(m.Path.Value); err != nil {
					v.addf(mp+".path.value", "invalid RE2 regular expression: %v", err)
				}
			default:
				v.addf(mp+".path.type", "must be Exact, PathPrefix or RegularExpression, got %q", m.Path.Type)
			}
			if m.Path.Type != "" && m.Path.Type != PathMatchPathPrefix {
				allPrefix = false
			}
		}
		for j, h := range m.Headers {
			hp := fmt.Sprintf("%s.headers[%d]", mp, j)
			if !headerNameRE.MatchString(h.Name) {
				v.addf(hp+".name", "invalid header name %q", h.Name)
			}
			v.matchValue(hp, h.Type, h.Value)
		}
		for j, q := range m.QueryParams {
			qp := fmt.Sprintf("%s.queryParams[%d]", mp, j)
			if q.Name == "" {
				v.addf(qp+".name", "required")
			}
			v.matchValue(qp, q.Type, q.Value)
		}
		if m.Method != "" && !methodRE.MatchString(m.Method) {
			v.addf(mp+".method", "must be an upper-case HTTP method, got %q", m.Method)
		}
	}
	terminal := v.filters(p+".filters", r.Filters, allPrefix, false)
	if terminal && len(r.BackendRefs) > 0 {
		// The spec allows it, but the backends would never be used:
		// reject so the operator notices.
		v.addf(p+".backendRefs", "must be empty when the rule has a RequestRedirect or DirectResponse filter")
	}
	for i := range r.BackendRefs {
		bp := fmt.Sprintf("%s.backendRefs[%d]", p, i)
		v.backendRef(bp, &r.BackendRefs[i])
		v.filters(bp+".filters", r.BackendRefs[i].Filters, allPrefix, true)
	}
	if t := r.Timeouts; t != nil {
		if t.Request != nil && t.Request.Duration < 0 {
			v.addf(p+".timeouts.request", "must not be negative")
		}
		if t.BackendRequest != nil && t.BackendRequest.Duration < 0 {
			v.addf(p+".timeouts.backendRequest", "must not be negative")
		}
		if t.Request != nil && t.BackendRequest != nil && t.Request.Duration > 0 && t.BackendRequest.Duration > t.Request.Duration {
			v.addf(p+".timeouts.backendRequest", "must not exceed timeouts.request (%s)", t.Request.Duration)
		}
	}
	if rt := r.Retry; rt != nil {
		if rt.Attempts < 1 || rt.Attempts > 10 {
			v.addf(p+".retry.attempts", "must be 1-10, got %d", rt.Attempts)
		}
		for i, c := range rt.Codes {
			if c < 400 || c > 599 {
				v.addf(fmt.Sprintf("%s.retry.codes[%d]", p, i), "must be 400-599, got %d", c)
			}
		}
		if rt.Backoff != nil && rt.Backoff.Duration < 0 {
			v.addf(p+".retry.backoff", "must not be negative")
		}
		if rt.Budget != nil {
			v.retryBudget(p+".retry.budget", rt.Budget)
		}
	}
	if tp := r.Traffic; tp != nil {
		v.traffic(p+".traffic", tp)
	}
	if sp := r.SessionPersistence; sp != nil {
		switch sp.Type {
		case "", SessionPersistenceCookie, SessionPersistenceHeader:
		default:
			v.addf(p+".sessionPersistence.type", "must be Cookie or Header, got %q", sp.Type)
		}
		if sp.SessionName == "" || !headerNameRE.MatchString(sp.SessionName) {
			v.addf(p+".sessionPersistence.sessionName", "must be a valid cookie or header name, got %q", sp.SessionName)
		}
		if sp.AbsoluteTimeout != nil && sp.AbsoluteTimeout.Duration <= 0 {
			v.addf(p+".sessionPersistence.absoluteTimeout", "must be positive")
		}
	}
}

func (v *validator) transformation(p string, r *TransformationRules, response bool) {
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
			v.addf(p+".when", "%v", err)
		}
	}
	for _, group := range []struct {
		name string
		list []HeaderTransformation
	}{{"set", r.Set}, {"add", r.Add}} {
		name := group.name
		for i, h := range group.list {
			hp := fmt.Sprintf("%s.%s[%d]", p, name, i)
			if !headerNameRE.MatchString(h.Name) {
				v.addf(hp+".name", "invalid header name %q", h.Name)
			}
			if _, err := cel.Compile(phase, cel.KindHeaderValue, h.Value); err != nil {
				v.addf(hp+".value", "%v", err)
			}
		}
	}
	for i, h := range r.Remove {
		if !headerNameRE.MatchString(h) {
			v.addf(fmt.Sprintf("%s.remove[%d]", p, i), "invalid header name %q", h)
		}
	}
	if r.Body != "" {
		if _, err := cel.Compile(phase, cel.KindBody, r.Body); err != nil {
			v.addf(p+".body", "%v", err)
		}
	}
}

func checkAuthMode(m AuthMode) bool {
	return m == "" || m == AuthModeStrict || m == AuthModeOptional
}

func (v *validator) traffic(p string, tp *TrafficPolicy) {
	if j := tp.JWTAuthentication; j != nil {
		jp := p + ".jwtAuthentication"
		if !checkAuthMode(j.Mode) {
			v.addf(jp+".mode", "must be Strict or Optional, got %q", j.Mode)
		}
		if len(j.Providers) == 0 {
			v.addf(jp+".providers", "at least one provider is required")
		}
		issuers := map[string]bool{}
		for i, pr := range j.Providers {
			pp := fmt.Sprintf("%s.providers[%d]", jp, i)
			if pr.Issuer == "" {
				v.addf(pp+".issuer", "required")
			} else if issuers[pr.Issuer] {
				v.addf(pp+".issuer", "duplicate issuer %q", pr.Issuer)
			}
			issuers[pr.Issuer] = true
			switch {
			case (pr.JWKS.Inline == "") == (pr.JWKS.RemoteURL == ""):
				v.addf(pp+".jwks", "set exactly one of inline or remoteURL")
			case pr.JWKS.Inline != "":
				if _, err := ParseJWKS([]byte(pr.JWKS.Inline)); err != nil {
					v.addf(pp+".jwks.inline", "%v", err)
				}
			default:
				if !strings.HasPrefix(pr.JWKS.RemoteURL, "https://") && !strings.HasPrefix(pr.JWKS.RemoteURL, "http://") {
					v.addf(pp+".jwks.remoteURL", "must be an http(s) URL, got %q", pr.JWKS.RemoteURL)
				}
			}
			if pr.JWKS.CacheDuration != nil && pr.JWKS.CacheDuration.Duration <= 0 {
				v.addf(pp+".jwks.cacheDuration", "must be positive")
			}
			for k, ch := range pr.ClaimsToHeaders {
				if ch.Claim == "" || !headerNameRE.MatchString(ch.Header) {
					v.addf(fmt.Sprintf("%s.claimsToHeaders[%d]", pp, k), "claim and a valid header name are required")
				}
			}
			if pr.TokenHeader != "" && !headerNameRE.MatchString(pr.TokenHeader) {
				v.addf(pp+".tokenHeader", "invalid header name %q", pr.TokenHeader)
			}
		}
	}
	if a := tp.APIKeyAuthentication; a != nil {
		if !checkAuthMode(a.Mode) {
			v.addf(p+".apiKeyAuthentication.mode", "must be Strict or Optional, got %q", a.Mode)
		}
		if len(a.Keys) == 0 {
			v.addf(p+".apiKeyAuthentication.keys", "at least one key is required")
		}
		seen := map[string]bool{}
		for i, k := range a.Keys {
			kp := fmt.Sprintf("%s.apiKeyAuthentication.keys[%d]", p, i)
			if k.Name == "" || k.Key == "" {
				v.addf(kp, "name and key are required")
			}
			if seen[k.Key] {
				v.addf(kp+".key", "duplicate key (two clients would be indistinguishable)")
			}
			seen[k.Key] = true
		}
		if a.Header != "" && !headerNameRE.MatchString(a.Header) {
			v.addf(p+".apiKeyAuthentication.header", "invalid header name %q", a.Header)
		}
	}
	if b := tp.BasicAuthentication; b != nil {
		if !checkAuthMode(b.Mode) {
			v.addf(p+".basicAuthentication.mode", "must be Strict or Optional, got %q", b.Mode)
		}
		if _, err := ParseHtpasswd(b.Htpasswd); err != nil {
			v.addf(p+".basicAuthentication.htpasswd", "%v", err)
		}
	}
	if e := tp.ExtAuth; e != nil {
		ep := p + ".extAuth"
		if _, ok := v.backends[e.Backend]; !ok {
			v.addf(ep+".backend", "unknown backend %q; add it to backends", e.Backend)
		}
		switch e.Protocol {
		case "", ExtAuthHTTP:
			if len(e.ContextExtensions) > 0 {
				v.addf(ep+".contextExtensions", "only for protocol GRPC")
			}
		case ExtAuthGRPC:
			if e.PathPrefix != "" || len(e.AllowedUpstreamHeaders) > 0 || e.AllUpstreamHeaders || e.Require200 || e.SignInRedirectURL != "" {
				v.addf(ep, "pathPrefix, allowedUpstreamHeaders, allUpstreamHeaders, require200 and signInRedirectURL are only for protocol HTTP")
			}
			if b := v.backends[e.Backend]; b != nil && b.TLS != nil {
				v.addf(ep+".backend", "gRPC ext auth over TLS is not supported yet; use a cleartext (h2c) backend")
			}
		default:
			v.addf(ep+".protocol", "must be HTTP or GRPC, got %q", e.Protocol)
		}
		if e.PathPrefix != "" && !strings.HasPrefix(e.PathPrefix, "/") {
			v.addf(ep+".pathPrefix", "must start with \"/\", got %q", e.PathPrefix)
		}
		for _, seg := range strings.Split(e.PathPrefix, "/") {
			if seg == "." || seg == ".." {
				v.addf(ep+".pathPrefix", "must not contain . or .. segments, got %q", e.PathPrefix)
				break
			}
		}
		if e.AllUpstreamHeaders && len(e.AllowedUpstreamHeaders) > 0 {
			v.addf(ep+".allUpstreamHeaders", "set either allUpstreamHeaders or allowedUpstreamHeaders")
		}
		if e.IncludeBodyBytes < 0 || e.IncludeBodyBytes > 1<<20 {
			v.addf(ep+".includeBodyBytes", "must be 0-1048576, got %d", e.IncludeBodyBytes)
		}
		if e.RejectLargeBody && e.IncludeBodyBytes == 0 {
			v.addf(ep+".rejectLargeBody", "requires includeBodyBytes")
		}
		if e.Timeout != nil && e.Timeout.Duration <= 0 {
			v.addf(ep+".timeout", "must be positive")
		}
		for i, h := range append(append([]string{}, e.ForwardHeaders...), e.AllowedUpstreamHeaders...) {
			if !headerNameRE.MatchString(h) {
				v.addf(fmt.Sprintf("%s.headers[%d]", ep, i), "invalid header name %q", h)
			}
		}
	}
	if t := tp.Transformation; t != nil {
		v.transformation(p+".transformation.request", t.Request, false)
		v.transformation(p+".transformation.response", t.Response, true)
	}
	if c := tp.CSRF; c != nil {
		for i, o := range c.AdditionalOrigins {
			if !strings.Contains(o, "://") {
				v.addf(fmt.Sprintf("%s.csrf.additionalOrigins[%d]", p, i), "must be scheme://host[:port], got %q", o)
			}
		}
	}
	if a := tp.Authorization; a != nil {
		switch a.Action {
		case AuthorizationAllow, AuthorizationDeny, AuthorizationRequire:
		default:
			v.addf(p+".authorization.action", "must be Allow, Deny or Require, got %q", a.Action)
		}
		if len(a.Rules) == 0 {
			v.addf(p+".authorization.rules", "at least one rule is required")
		}
		for i, expr := range a.Rules {
			if _, err := cel.Compile(cel.PhaseAuthorization, cel.KindCondition, expr); err != nil {
				v.addf(fmt.Sprintf("%s.authorization.rules[%d]", p, i), "%v", err)
			}
		}
	}
	if rl := tp.RateLimit; rl != nil {
		if len(rl.Local) == 0 {
			v.addf(p+".rateLimit.local", "at least one limit is required")
		}
		for i, l := range rl.Local {
			lp := fmt.Sprintf("%s.rateLimit.local[%d]", p, i)
			if l.Requests < 1 {
				v.addf(lp+".requests", "must be at least 1, got %d", l.Requests)
			}
			switch l.Unit {
			case RateLimitSecond, RateLimitMinute, RateLimitHour:
			default:
				v.addf(lp+".unit", "must be Second, Minute or Hour, got %q", l.Unit)
			}
			if l.Burst != nil && *l.Burst < 1 {
				v.addf(lp+".burst", "must be at least 1, got %d", *l.Burst)
			}
			if l.Key != "" {
				if _, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, l.Key); err != nil {
					v.addf(lp+".key", "%v", err)
				}
			}
		}
	}
}

func (v *validator) matchValue(p string, t MatchType, value string) {
	switch t {
	case "", MatchExact:
	case MatchRegularExpression:
		if _, err := regexp.Compile(value); err != nil {
			v.addf(p+".value", "invalid RE2 regular expression: %v", err)
		}
	default:
		v.addf(p+".type", "must be Exact or RegularExpression, got %q", t)
	}
}

// filters validates a filter list and reports whether it ends the request
// at the proxy (redirect or direct response).
func (v *validator) filters(p string, fs []HTTPFilter, allPrefix, backendLevel bool) (terminal bool) {
	seen := map[string]bool{}
	for i := range fs {
		f := &fs[i]
		fp := fmt.Sprintf("%s[%d]", p, i)
		kinds := f.kinds()
		if len(kinds) != 1 {
			v.addf(fp, "exactly one filter type must be set, got %d (%s)", len(kinds), strings.Join(kinds, ", "))
			continue
		}
		kind := kinds[0]
		if backendLevel && kind != "requestHeaderModifier" && kind != "responseHeaderModifier" {
			v.addf(fp, "only requestHeaderModifier and responseHeaderModifier are allowed on backendRefs, got %s", kind)
			continue
		}
		if kind != "requestMirror" && seen[kind] {
			v.addf(fp, "%s may appear only once per rule", kind)
		}
		seen[kind] = true
		switch {
		case f.RequestHeaderModifier != nil:
			v.headerModifier(fp+".requestHeaderModifier", f.RequestHeaderModifier)
		case f.ResponseHeaderModifier != nil:
			v.headerModifier(fp+".responseHeaderModifier", f.ResponseHeaderModifier)
		case f.RequestRedirect != nil:
			rd := f.RequestRedirect
			rp := fp + ".requestRedirect"
			switch rd.Scheme {
			case "", "http", "https":
			default:
				v.addf(rp+".scheme", "must be http or https, got %q", rd.Scheme)
			}
			if rd.Hostname != "" && checkHostname(rd.Hostname) != nil || strings.HasPrefix(rd.Hostname, "*") {
				v.addf(rp+".hostname", "must be a DNS name, got %q", rd.Hostname)
			}
			if rd.Port < 0 || rd.Port > 65535 {
				v.addf(rp+".port", "must be 1-65535, got %d", rd.Port)
			}
			switch rd.StatusCode {
			case 0, 301, 302, 303, 307, 308:
			default:
				v.addf(rp+".statusCode", "must be 301, 302, 303, 307 or 308, got %d", rd.StatusCode)
			}
			v.pathModifier(rp+".path", rd.Path, allPrefix)
			terminal = true
		case f.URLRewrite != nil:
			if f.URLRewrite.Hostname != "" && (checkHostname(f.URLRewrite.Hostname) != nil || strings.HasPrefix(f.URLRewrite.Hostname, "*")) {
				v.addf(fp+".urlRewrite.hostname", "must be a DNS name, got %q", f.URLRewrite.Hostname)
			}
			v.pathModifier(fp+".urlRewrite.path", f.URLRewrite.Path, allPrefix)
		case f.RequestMirror != nil:
			m := f.RequestMirror
			if _, ok := v.backends[m.Backend]; !ok {
				v.addf(fp+".requestMirror.backend", "unknown backend %q; add it to backends", m.Backend)
			}
			if m.Percent != nil && (*m.Percent < 0 || *m.Percent > 100) {
				v.addf(fp+".requestMirror.percent", "must be 0-100, got %d", *m.Percent)
			}
		case f.CORS != nil:
			for j, o := range f.CORS.AllowOrigins {
				if o != "*" && !strings.Contains(o, "://") {
					v.addf(fmt.Sprintf("%s.cors.allowOrigins[%d]", fp, j), "must be \"*\" or scheme://host[:port], got %q", o)
				}
			}
			if f.CORS.MaxAge < 0 {
				v.addf(fp+".cors.maxAge", "must not be negative")
			}
		case f.DirectResponse != nil:
			if c := f.DirectResponse.StatusCode; c < 200 || c > 599 {
				v.addf(fp+".directResponse.statusCode", "must be 200-599, got %d", c)
			}
			terminal = true
		}
	}
	if seen["requestRedirect"] && seen["urlRewrite"] {
		v.addf(p, "requestRedirect and urlRewrite cannot be combined")
	}
	if seen["requestRedirect"] && seen["directResponse"] {
		v.addf(p, "requestRedirect and directResponse cannot be combined")
	}
	return terminal
}

func (f *HTTPFilter) kinds() []string {
	var k []string
	if f.RequestHeaderModifier != nil {
		k = append(k, "requestHeaderModifier")
	}
	if f.ResponseHeaderModifier != nil {
		k = append(k, "responseHeaderModifier")
	}
	if f.RequestRedirect != nil {
		k = append(k, "requestRedirect")
	}
	if f.URLRewrite != nil {
		k = append(k, "urlRewrite")
	}
	if f.RequestMirror != nil {
		k = append(k, "requestMirror")
	}
	if f.CORS != nil {
		k = append(k, "cors")
	}
	if f.DirectResponse != nil {
		k = append(k, "directResponse")
	}
	return k
}

func (v *validator) headerModifier(p string, h *HeaderModifier) {
	for i, x := range h.Set {
		if !headerNameRE.MatchString(x.Name) {
			v.addf(fmt.Sprintf("%s.set[%d].name", p, i), "invalid header name %q", x.Name)
		}
	}
	for i, x := range h.Add {
		if !headerNameRE.MatchString(x.Name) {
			v.addf(fmt.Sprintf("%s.add[%d].name", p, i), "invalid header name %q", x.Name)
		}
	}
	for i, x := range h.Remove {
		if !headerNameRE.MatchString(x) {
			v.addf(fmt.Sprintf("%s.remove[%d]", p, i), "invalid header name %q", x)
		}
	}
}

func (v *validator) pathModifier(p string, m *PathModifier, allPrefix bool) {
	if m == nil {
		return
	}
	switch m.Type {
	case ReplaceFullPath:
		if !strings.HasPrefix(m.ReplaceFullPath, "/") {
			v.addf(p+".replaceFullPath", "must start with \"/\", got %q", m.ReplaceFullPath)
		}
	case ReplacePrefixMatch:
		if !strings.HasPrefix(m.ReplacePrefixMatch, "/") {
			v.addf(p+".replacePrefixMatch", "must start with \"/\", got %q", m.ReplacePrefixMatch)
		}
		if !allPrefix {
			v.addf(p+".type", "ReplacePrefixMatch needs every match of the rule to be a PathPrefix match")
		}
	default:
		v.addf(p+".type", "must be ReplaceFullPath or ReplacePrefixMatch, got %q", m.Type)
	}
}

func (v *validator) backendRef(p string, r *BackendRef) {
	if r.Weight != nil && (*r.Weight < 0 || *r.Weight > 1000000) {
		v.addf(p+".weight", "must be 0-1000000, got %d", *r.Weight)
	}
	switch {
	case r.Invalid != "" && r.Backend != "":
		v.addf(p, "set either backend or invalid, not both")
	case r.Invalid != "":
	case r.Backend == "":
		v.addf(p+".backend", "required (or set invalid to answer 500 for this share)")
	default:
		if _, ok := v.backends[r.Backend]; !ok {
			v.addf(p+".backend", "unknown backend %q; add it to backends or mark the ref invalid", r.Backend)
		}
	}
}

func (v *validator) backend(p string, b *Backend) {
	switch b.Protocol {
	case "", BackendHTTP1, BackendH2C, BackendTCP:
	case BackendH2:
		if b.TLS == nil {
			v.addf(p+".tls", "required for protocol H2 (use H2C for cleartext HTTP/2)")
		}
	default:
		v.addf(p+".protocol", "must be HTTP1, H2C, H2 or TCP, got %q", b.Protocol)
	}
	for i, e := range b.Endpoints {
		ep := fmt.Sprintf("%s.endpoints[%d]", p, i)
		host, port, err := net.SplitHostPort(e.Address)
		if err != nil || host == "" {
			v.addf(ep+".address", "must be host:port, got %q", e.Address)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.addf(ep+".address", "port must be 1-65535, got %q", port)
		}
		if e.Weight < 0 || e.Weight > 1000000 {
			v.addf(ep+".weight", "must be 0-1000000, got %d", e.Weight)
		}
	}
	if t := b.TLS; t != nil {
		if t.CACertificates != "" {
			if _, err := ParseCAs(t.CACertificates); err != nil {
				v.addf(p+".tls.caCertificates", "%v", err)
			}
		}
		if t.ClientCertificate != nil {
			v.certificate(p+".tls.clientCertificate", t.ClientCertificate)
		}
	}
	if b.ConnectTimeout != nil && b.ConnectTimeout.Duration <= 0 {
		v.addf(p+".connectTimeout", "must be positive")
	}
	if rb := b.RetryBudget; rb != nil {
		if b.Protocol == BackendTCP {
			v.addf(p+".retryBudget", "only for HTTP backends: TCP connections are not retried")
		}
		v.retryBudget(p+".retryBudget", rb)
	}
}

func (v *validator) retryBudget(p string, b *RetryBudget) {
	if b.Percent < 0 || b.Percent > 100 {
		v.addf(p+".percent", "must be 0-100, got %d", b.Percent)
	}
	if b.Interval != nil && b.Interval.Duration <= 0 {
		v.addf(p+".interval", "must be positive")
	}
	if b.MinRetries < 0 {
		v.addf(p+".minRetries", "must not be negative, got %d", b.MinRetries)
	}
	if b.MinRetryInterval != nil && b.MinRetryInterval.Duration <= 0 {
		v.addf(p+".minRetryInterval", "must be positive")
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
	if net.ParseIP(name) != nil {
		return fmt.Errorf("hostname %q is an IP address; hostnames must be DNS names", h)
	}
	for _, label := range strings.Split(name, ".") {
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
	}
	return nil
}
