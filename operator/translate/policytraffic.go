package translate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/webhook/validation"
)

// enforcedTraffic are the traffic fields mapped to config.TrafficPolicy. They are converted
// once per policy (resolvePolicyTraffic), with their Secrets and backendRef, and copied
// whole into every rule they win.
var enforcedTraffic = map[string]bool{
	"traffic.jwtAuthentication":    true,
	"traffic.apiKeyAuthentication": true,
	"traffic.basicAuthentication":  true,
	"traffic.csrf":                 true,
	"traffic.extAuth":              true,
	"traffic.authorization":        true,
	"traffic.mcpAuthorization":     true,
	"traffic.rateLimit":            true,
	"traffic.transformation":       true,
	"traffic.bodyLimits":           true,
}

// policyTraffic is the proxy form of one policy's enforced traffic fields, and why a field
// cannot be enforced (a missing Secret, a refused backendRef, a protocol the proxy lacks):
// rules such a field wins answer 500.
type policyTraffic struct {
	cfg    config.TrafficPolicy
	broken map[string]string // field path -> user-facing reason
}

// validatePolicy runs the webhook's checks again: a policy applied while the webhook was
// down, or accepted by an older operator whose CEL environment was looser, must not reach a
// proxy. It reports whether the policy may be attached.
func (t *translator) validatePolicy(p *agwv1a1.AgentgatewayPolicy) bool {
	st := t.policies.stat(p)
	if st.validated {
		return st.invalid == nil
	}
	st.validated = true
	errs, _ := validation.ValidatePolicy(p)
	for _, e := range errs {
		st.invalid = append(st.invalid, e.Error())
	}
	return st.invalid == nil
}

// attachedPolicies lists the policies attached anywhere (target or inline), sorted, so the
// work below is proportional to what reaches our Gateways; traffic tells those attached
// where their traffic section applies (not only to backends).
func (ps *policyState) attachedPolicies() (all []*agwv1a1.AgentgatewayPolicy, traffic map[*agwv1a1.AgentgatewayPolicy]bool) {
	seen := map[*agwv1a1.AgentgatewayPolicy]bool{}
	traffic = map[*agwv1a1.AgentgatewayPolicy]bool{}
	add := func(pas []polAttach, tr bool) {
		for _, pa := range pas {
			seen[pa.pol] = true
			traffic[pa.pol] = traffic[pa.pol] || tr
		}
	}
	for _, v := range ps.gateway {
		add(v, true)
	}
	for _, v := range ps.listener {
		add(v, true)
	}
	for _, v := range ps.route {
		add(v, true)
	}
	for _, v := range ps.rule {
		add(v, true)
	}
	for _, v := range ps.backend {
		add(v, false)
	}
	for _, v := range ps.backendPort {
		add(v, false)
	}
	for p := range seen {
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].Namespace < all[j].Namespace || all[i].Namespace == all[j].Namespace && all[i].Name < all[j].Name
	})
	return all, traffic
}

// resolvePolicyTraffic converts the enforced traffic fields of one valid policy: Secrets
// (API keys, htpasswd) are read from the policy's namespace and copied inline; the ext-auth
// backendRef is resolved like a route's (a ReferenceGrant allows other namespaces). The
// result is then checked with the proxy's own validation, so a bad JWKS, htpasswd or
// duplicate API key breaks this policy's rules (500) instead of the whole Gateway config.
func (t *translator) resolvePolicyTraffic(p *agwv1a1.AgentgatewayPolicy) {
	tr := p.Spec.Traffic
	if tr == nil {
		return
	}
	pt := &policyTraffic{broken: map[string]string{}}
	t.policies.traffic[p] = pt
	st := t.policies.stat(p)
	fail := func(path, why string) {
		pt.broken[path] = why
		if !strings.HasPrefix(why, path) {
			why = path + ": " + why
		}
		st.refErrors = append(st.refErrors, why+"; requests it applies to are answered with 500")
	}
	if b := tr.BodyLimits; b != nil {
		pt.cfg.BodyLimits = &config.BodyLimits{Request: deref(b.Request, 0), Response: deref(b.Response, 0)}
	}
	if j := tr.JWTAuthentication; j != nil {
		out := &config.JWTAuthentication{Mode: authMode(j.Mode)}
		for _, pr := range j.Providers {
			cp := config.JWTProvider{Name: pr.Name, Issuer: pr.Issuer, Audiences: pr.Audiences, TokenHeader: string(deref(pr.TokenHeader, ""))}
			if pr.JWKS.Inline != nil {
				cp.JWKS.Inline = *pr.JWKS.Inline
			}
			if r := pr.JWKS.Remote; r != nil {
				cp.JWKS.RemoteURL, cp.JWKS.CacheDuration = r.URL, duration(r.CacheDuration)
			}
			for _, c := range pr.ClaimsToHeaders {
				cp.ClaimsToHeaders = append(cp.ClaimsToHeaders, config.ClaimToHeader{Claim: c.Claim, Header: string(c.Header)})
			}
			out.Providers = append(out.Providers, cp)
		}
		pt.cfg.JWTAuthentication = out
	}
	if a := tr.APIKeyAuthentication; a != nil {
		out := &config.APIKeyAuthentication{Mode: authMode(a.Mode), Header: string(deref(a.Header, ""))}
		var missing []string
		for _, ref := range a.SecretRefs {
			s := t.ix.secrets[nsName{p.Namespace, ref.Name}]
			switch {
			case s == nil:
				missing = append(missing, fmt.Sprintf("Secret %s/%s not found", p.Namespace, ref.Name))
			case len(s.Data) == 0:
				missing = append(missing, fmt.Sprintf("Secret %s/%s has no data: each entry is a client name and its API key", p.Namespace, ref.Name))
			default:
				for _, k := range sortedKeys(s.Data) {
					out.Keys = append(out.Keys, config.APIKey{Name: k, Key: string(s.Data[k])})
				}
			}
		}
		if len(missing) > 0 {
			fail("traffic.apiKeyAuthentication", strings.Join(missing, ", "))
		} else {
			pt.cfg.APIKeyAuthentication = out
		}
	}
	if b := tr.BasicAuthentication; b != nil {
		s := t.ix.secrets[nsName{p.Namespace, b.SecretRef.Name}]
		switch {
		case s == nil:
			fail("traffic.basicAuthentication", fmt.Sprintf("Secret %s/%s not found", p.Namespace, b.SecretRef.Name))
		case s.Data[".htpasswd"] == nil:
			fail("traffic.basicAuthentication", fmt.Sprintf("Secret %s/%s has no .htpasswd key", p.Namespace, b.SecretRef.Name))
		default:
			pt.cfg.BasicAuthentication = &config.BasicAuthentication{Mode: authMode(b.Mode), Htpasswd: string(s.Data[".htpasswd"]), Realm: deref(b.Realm, "")}
		}
	}
	if c := tr.CSRF; c != nil {
		pt.cfg.CSRF = &config.CSRF{AdditionalOrigins: c.AdditionalOrigins}
	}
	if e := tr.ExtAuth; e != nil {
		t.resolveExtAuth(p, e, pt, fail)
	}
	if a := tr.Authorization; a != nil {
		out := &config.Authorization{Action: config.AuthorizationAction(a.Action)}
		for _, r := range a.Rules {
			out.Rules = append(out.Rules, string(r))
		}
		pt.cfg.Authorization = out
	}
	if a := tr.MCPAuthorization; a != nil {
		out := &config.Authorization{Action: config.AuthorizationAction(a.Action)}
		for _, r := range a.Rules {
			out.Rules = append(out.Rules, string(r))
		}
		pt.cfg.MCPAuthorization = out
	}
	if rl := tr.RateLimit; rl != nil {
		out := &config.RateLimit{}
		for _, l := range rl.Local {
			cl := config.LocalRateLimit{Requests: int(l.Requests), Unit: config.RateLimitUnit(l.Unit), Key: string(deref(l.Key, ""))}
			if l.Burst != nil {
				cl.Burst = ptr(int(*l.Burst))
			}
			out.Local = append(out.Local, cl)
		}
		pt.cfg.RateLimit = out
		if g := rl.Global; g != nil {
			var why string
			if out.Global, why = t.resolveGlobalRateLimit(p, g); why != "" {
				pt.cfg.RateLimit = nil
				fail("traffic.rateLimit", why)
			}
		}
	}
	if x := tr.Transformation; x != nil {
		pt.cfg.Transformation = &config.Transformation{Request: transformRules(x.Request), Response: transformRules(x.Response)}
	}
	problems := t.checkTraffic(&pt.cfg)
	for _, path := range sortedKeys(problems) {
		if path != "traffic" {
			fail(path, problems[path])
			clearTraffic(&pt.cfg, path)
			continue
		}
		for _, f := range sectionFields(p, "traffic") {
			if enforcedTraffic[f.path] && pt.broken[f.path] == "" {
				fail(f.path, problems[path])
				clearTraffic(&pt.cfg, f.path)
			}
		}
	}
}

// resolveExtAuth maps an ext-auth policy; its service is a backend like a route's backendRef
// (a gRPC one like a GRPCRoute's, over HTTP/2), so BackendTLSPolicies and backend policies
// apply to it too.
func (t *translator) resolveExtAuth(p *agwv1a1.AgentgatewayPolicy, e *agwv1a1.ExtAuth, pt *policyTraffic, fail func(path, why string)) {
	grpc := e.Protocol == agwv1a1.ExtAuthProtocolGRPC
	mode := modeHTTP
	if grpc {
		mode = modeGRPC
	}
	name, err := t.resolveBackendFrom(agwv1a1.GroupName, "AgentgatewayPolicy", p.Namespace, e.BackendRef, mode)
	if err != nil {
		fail("traffic.extAuth", err.msg)
		return
	}
	out := &config.ExtAuth{Backend: name, IncludeBodyBytes: int(deref(e.IncludeBodyBytes, 0)), Timeout: duration(e.Timeout),
		FailOpen: deref(e.FailureMode, agwv1a1.FailClosed) == agwv1a1.FailOpen}
	switch {
	case grpc:
		out.Protocol = config.ExtAuthGRPC
		if g := e.GRPC; g != nil && len(g.ContextExtensions) > 0 {
			out.ContextExtensions = make(map[string]string, len(g.ContextExtensions))
			for k, v := range g.ContextExtensions {
				out.ContextExtensions[k] = v
			}
		}
	case e.HTTP != nil:
		h := e.HTTP
		out.PathPrefix, out.SignInRedirectURL = deref(h.PathPrefix, ""), deref(h.SignInRedirectURL, "")
		for _, x := range h.ForwardHeaders {
			out.ForwardHeaders = append(out.ForwardHeaders, string(x))
		}
		for _, x := range h.AllowedUpstreamHeaders {
			out.AllowedUpstreamHeaders = append(out.AllowedUpstreamHeaders, string(x))
		}
	}
	pt.cfg.ExtAuth = out
}

func authMode(m *agwv1a1.AuthMode) config.AuthMode {
	if m == nil {
		return ""
	}
	return config.AuthMode(*m)
}

func transformRules(r *agwv1a1.TransformationRules) *config.TransformationRules {
	if r == nil {
		return nil
	}
	out := &config.TransformationRules{When: string(deref(r.When, "")), Body: string(deref(r.Body, ""))}
	for _, h := range r.Set {
		out.Set = append(out.Set, config.HeaderTransformation{Name: string(h.Name), Value: string(h.Value)})
	}
	for _, h := range r.Add {
		out.Add = append(out.Add, config.HeaderTransformation{Name: string(h.Name), Value: string(h.Value)})
	}
	for _, h := range r.Remove {
		out.Remove = append(out.Remove, string(h))
	}
	return out
}

// checkTraffic validates a converted traffic section with config.Validate, inside a minimal
// config, and returns the problems per traffic field ("traffic.basicAuthentication" -> why);
// "traffic" stands for every field when a problem cannot be attributed to one.
func (t *translator) checkTraffic(tp *config.TrafficPolicy) map[string]string {
	const prefix = "binds[0].listeners[0].httpRoutes[0].rules[0]."
	cfg := &config.Config{Version: "check", Binds: []config.Bind{{Name: "check", Port: 80, Protocol: config.ProtocolHTTP,
		Listeners: []config.Listener{{Name: "check", Protocol: config.ProtocolHTTP, HTTPRoutes: []config.HTTPRoute{{
			RouteMeta: config.RouteMeta{Namespace: "check", Name: "check"},
			Rules:     []config.HTTPRouteRule{{Traffic: tp, Filters: []config.HTTPFilter{{DirectResponse: &config.DirectResponse{StatusCode: 200}}}}},
		}}}},
	}}}
	if e := tp.ExtAuth; e != nil {
		if be := t.backends[e.Backend]; be != nil {
			cfg.Backends = append(cfg.Backends, be.cfg)
		}
	}
	if be := t.backends[globalRateLimitBackend(tp)]; be != nil {
		cfg.Backends = append(cfg.Backends, be.cfg)
	}
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	out := map[string]string{}
	var fes config.Errors
	if !errors.As(err, &fes) {
		// Not expected: Validate returns Errors. Refuse everything rather than guess.
		out["traffic"] = err.Error()
		return out
	}
	for _, fe := range fes {
		p := strings.TrimPrefix(fe.Path, prefix)
		field := ""
		if rest, ok := strings.CutPrefix(p, "traffic."); ok {
			field = "traffic." + rest
			if i := strings.IndexAny(rest, ".["); i >= 0 {
				field = "traffic." + rest[:i]
			}
		} else if tp.ExtAuth != nil && strings.HasPrefix(p, "backends[") {
			field = "traffic.extAuth"
		} else if globalRateLimitBackend(tp) != "" && strings.HasPrefix(p, "backends[") {
			field = "traffic.rateLimit"
		}
		if !enforcedTraffic[field] {
			// Not expected: nothing else in the check config can be wrong. Refuse the
			// whole section rather than guess.
			field = "traffic"
			p = fe.Path
		}
		msg := p + ": " + fe.Msg
		if out[field] != "" {
			msg = out[field] + ", " + msg
		}
		out[field] = msg
	}
	return out
}

// clearTraffic drops one field from a converted traffic section.
func clearTraffic(tp *config.TrafficPolicy, path string) {
	switch path {
	case "traffic.jwtAuthentication":
		tp.JWTAuthentication = nil
	case "traffic.apiKeyAuthentication":
		tp.APIKeyAuthentication = nil
	case "traffic.basicAuthentication":
		tp.BasicAuthentication = nil
	case "traffic.csrf":
		tp.CSRF = nil
	case "traffic.extAuth":
		tp.ExtAuth = nil
	case "traffic.authorization":
		tp.Authorization = nil
	case "traffic.mcpAuthorization":
		tp.MCPAuthorization = nil
	case "traffic.rateLimit":
		tp.RateLimit = nil
	case "traffic.transformation":
		tp.Transformation = nil
	}
}

// copyTraffic copies one converted field into a rule's traffic section.
func copyTraffic(dst, src *config.TrafficPolicy, path string) {
	switch path {
	case "traffic.jwtAuthentication":
		dst.JWTAuthentication = src.JWTAuthentication
	case "traffic.apiKeyAuthentication":
		dst.APIKeyAuthentication = src.APIKeyAuthentication
	case "traffic.basicAuthentication":
		dst.BasicAuthentication = src.BasicAuthentication
	case "traffic.csrf":
		dst.CSRF = src.CSRF
	case "traffic.extAuth":
		dst.ExtAuth = src.ExtAuth
	case "traffic.authorization":
		dst.Authorization = src.Authorization
	case "traffic.mcpAuthorization":
		dst.MCPAuthorization = src.MCPAuthorization
	case "traffic.rateLimit":
		dst.RateLimit = src.RateLimit
	case "traffic.transformation":
		dst.Transformation = src.Transformation
	case "traffic.bodyLimits":
		dst.BodyLimits = src.BodyLimits
	}
}
