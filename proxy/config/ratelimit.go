package config

import "github.com/agentgateway/agentgateway-go/proxy/cel"

// GlobalRateLimit asks a rate-limit service shared by every replica, over
// the Envoy rate-limit protocol (gRPC
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit), whether a
// request is within its limits. It runs after the local limits. A request
// over a limit gets 429 with the headers the service returned.
type GlobalRateLimit struct {
	// Backend is the rate-limit service, spoken to with gRPC over HTTP/2:
	// with the backend's TLS settings when it has them, h2c otherwise.
	Backend string `json:"backend"`
	// Domain is the service's configuration domain the descriptors belong to.
	Domain string `json:"domain"`
	// Descriptors are sent in one call. A descriptor one of whose entry
	// values fails to evaluate or is empty is left out of the call, and a
	// request left without descriptors is not limited.
	Descriptors []RateLimitDescriptor `json:"descriptors"`
	// Timeout bounds one call; nil means 1s.
	Timeout *Duration `json:"timeout,omitempty"`
	// FailureMode decides requests when the call fails or times out:
	// Allow (the default) lets them through, Deny answers 503.
	FailureMode RateLimitFailureMode `json:"failureMode,omitempty"`
}

// RateLimitFailureMode says what a failed rate-limit call means.
type RateLimitFailureMode string

// The failure modes.
const (
	RateLimitFailAllow RateLimitFailureMode = "Allow"
	RateLimitFailDeny  RateLimitFailureMode = "Deny"
)

// RateLimitDescriptor is one descriptor: an ordered list of entries.
type RateLimitDescriptor struct {
	Entries []RateLimitDescriptorEntry `json:"entries"`
}

// RateLimitDescriptorEntry is one key and its value, a CEL expression
// (phase RateLimitDescriptor, result string).
type RateLimitDescriptorEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Limits on the size of a global rate limit.
const (
	maxRateLimitDescriptors = 16
	maxRateLimitEntries     = 16
)

// globalRateLimit checks a GlobalRateLimit at the current path.
func (v *validator) globalRateLimit(g *GlobalRateLimit) {
	if g == nil {
		return
	}
	n := v.in(".global", -1)
	defer v.out(n)
	if v.backend(g.Backend) == nil {
		v.addf(".backend", "unknown backend %q; add it to backends", g.Backend)
	}
	if g.Domain == "" {
		v.addf(".domain", "must not be empty")
	}
	if len(g.Descriptors) == 0 || len(g.Descriptors) > maxRateLimitDescriptors {
		v.addf(".descriptors", "must have 1-%d descriptors, got %d", maxRateLimitDescriptors, len(g.Descriptors))
	}
	for i, d := range g.Descriptors {
		dn := v.in(".descriptors", i)
		if len(d.Entries) == 0 || len(d.Entries) > maxRateLimitEntries {
			v.addf(".entries", "must have 1-%d entries, got %d", maxRateLimitEntries, len(d.Entries))
		}
		for j, e := range d.Entries {
			en := v.in(".entries", j)
			if e.Key == "" {
				v.addf(".key", "must not be empty")
			}
			if _, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, e.Value); err != nil {
				v.addf(".value", "%v", err)
			}
			v.out(en)
		}
		v.out(dn)
	}
	if g.Timeout != nil && g.Timeout.Duration <= 0 {
		v.addf(".timeout", "must be positive")
	}
	switch g.FailureMode {
	case "", RateLimitFailAllow, RateLimitFailDeny:
	default:
		v.addf(".failureMode", "must be Allow or Deny, got %q", g.FailureMode)
	}
}
