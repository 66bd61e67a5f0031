package translate

import (
	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// resolveGlobalRateLimit maps a global rate limit; its service is a backend like a
// GRPCRoute's backendRef (HTTP/2, "+grpc"; with TLS when a BackendTLSPolicy or the backend
// asks for it). It reports why it cannot, for fail.
func (t *translator) resolveGlobalRateLimit(p *agwv1a1.AgentgatewayPolicy, g *agwv1a1.GlobalRateLimit) (*config.GlobalRateLimit, string) {
	name, err := t.resolveBackendFrom(agwv1a1.GroupName, "AgentgatewayPolicy", p.Namespace, g.BackendRef, modeGRPC)
	if err != nil {
		return nil, "rate-limit service: " + err.msg
	}
	out := &config.GlobalRateLimit{Backend: name, Domain: g.Domain, Timeout: duration(g.Timeout),
		FailureMode: config.RateLimitFailureMode(deref(g.FailureMode, agwv1a1.RateLimitFailureAllow))}
	for _, d := range g.Descriptors {
		cd := config.RateLimitDescriptor{}
		for _, e := range d.Entries {
			cd.Entries = append(cd.Entries, config.RateLimitDescriptorEntry{Key: e.Key, Value: string(e.Value)})
		}
		out.Descriptors = append(out.Descriptors, cd)
	}
	return out, ""
}

// globalRateLimitBackend is the backend of a traffic section's global rate limit, or "".
func globalRateLimitBackend(tp *config.TrafficPolicy) string {
	if tp == nil || tp.RateLimit == nil || tp.RateLimit.Global == nil {
		return ""
	}
	return tp.RateLimit.Global.Backend
}

// globalRateLimitBroken says why a converted rate limit cannot be applied now, or "".
func (t *translator) globalRateLimitBroken(tp *config.TrafficPolicy) string {
	name := globalRateLimitBackend(tp)
	if name == "" {
		return ""
	}
	if be := t.backends[name]; be != nil && be.invalid != "" {
		return "rate-limit service backend " + name + ": " + be.invalid
	}
	return ""
}
