package translate

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// buildGRPCRoute expresses a GRPCRoute as an HTTP route: each method match becomes a POST
// on /service/method, backends always speak HTTP/2.
func (t *translator) buildGRPCRoute(r *routeIR) {
	gr := r.grpc
	b := &builtRoute{http: &config.HTTPRoute{RouteMeta: routeMeta(r), Hostnames: r.hostnames, Rules: []config.HTTPRouteRule{}}}
	if len(b.http.Hostnames) == 0 {
		b.http.Hostnames = nil
	}
	for i := range gr.Spec.Rules {
		rule := &gr.Spec.Rules[i]
		out := config.HTTPRouteRule{Name: string(deref(rule.Name, ""))}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.GRPCRouteMatch{{}}
		}
		for _, m := range matches {
			cm := config.HTTPRouteMatch{Method: "POST", Path: grpcPath(m.Method)}
			for _, h := range m.Headers {
				cm.Headers = append(cm.Headers, config.HeaderMatch{Type: config.MatchType(deref(h.Type, gwv1.GRPCHeaderMatchExact)), Name: string(h.Name), Value: h.Value})
			}
			out.Matches = append(out.Matches, cm)
		}
		var inline []*agwv1a1.AgentgatewayPolicy
		for _, f := range rule.Filters {
			cf, pol := t.grpcFilter(r, f, b)
			if cf != nil {
				out.Filters = append(out.Filters, *cf)
			}
			if pol != nil {
				inline = append(inline, pol)
			}
		}
		for _, br := range rule.BackendRefs {
			ref := t.backendRef(r, br.BackendObjectReference, br.Weight, modeGRPC, b)
			for _, f := range br.Filters {
				if f.Type != gwv1.GRPCRouteFilterRequestHeaderModifier && f.Type != gwv1.GRPCRouteFilterResponseHeaderModifier {
					r.rejected = fmt.Sprintf("rule %d: backendRef filter %s is not supported; only header modifiers are", i, f.Type)
					continue
				}
				if cf, _ := t.grpcFilter(r, f, b); cf != nil {
					ref.Filters = append(ref.Filters, *cf)
				}
			}
			out.BackendRefs = append(out.BackendRefs, ref)
		}
		if terminal(out.Filters) {
			out.BackendRefs = nil
		}
		sp := rule.SessionPersistence //nolint:staticcheck // deprecated in v1.7.0 (XBackend carries it now) but still served, so still honoured
		if p := sessionPersistenceProblem(sp); p != "" {
			r.rejected = fmt.Sprintf("rule %d: %s", i, p)
		}
		out.SessionPersistence = sessionPersistence(sp)
		t.xbackendSession(r, &out)
		b.http.Rules = append(b.http.Rules, out)
		b.ruleNames = append(b.ruleNames, ruleName(rule.Name, i))
		b.inline = append(b.inline, inline)
	}
	r.built = b
}

func (t *translator) grpcFilter(r *routeIR, f gwv1.GRPCRouteFilter, b *builtRoute) (*config.HTTPFilter, *agwv1a1.AgentgatewayPolicy) {
	switch f.Type {
	case gwv1.GRPCRouteFilterRequestHeaderModifier:
		return &config.HTTPFilter{RequestHeaderModifier: headerModifier(f.RequestHeaderModifier)}, nil
	case gwv1.GRPCRouteFilterResponseHeaderModifier:
		return &config.HTTPFilter{ResponseHeaderModifier: headerModifier(f.ResponseHeaderModifier)}, nil
	case gwv1.GRPCRouteFilterRequestMirror:
		return t.mirrorFilter(r, f.RequestMirror, b), nil
	case gwv1.GRPCRouteFilterExtensionRef:
		return t.extensionRef(r, f.ExtensionRef)
	}
	r.rejected = fmt.Sprintf("filter type %s is not supported by agentgateway yet", f.Type)
	return nil, nil
}
