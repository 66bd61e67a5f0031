// Package globalratelimit is the global rate limit policy
// (config.GlobalRateLimit): descriptors computed with CEL are sent to a
// rate-limit service shared by every replica, over the Envoy rate-limit
// protocol.
package globalratelimit

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// defaultGlobalTimeout bounds a rate-limit call when the policy sets no timeout.
const defaultGlobalTimeout = time.Second

// Limit is a compiled config.GlobalRateLimit: a limit kept by a
// rate-limit service shared by every replica, asked over the Envoy
// rate-limit protocol (envoy.service.ratelimit.v3.RateLimitService).
type Limit struct {
	backend     *upstream.Backend
	conn        *callout.Conn
	domain      string
	descriptors [][]globalEntry
	timeout     time.Duration
	failDeny    bool
	log         policy.Logger
}

type globalEntry struct {
	key   string
	value *cel.Program
}

// New compiles c; the connection to the service comes from conns, shared
// with ext auth checks on the same backend.
func New(c *config.GlobalRateLimit, env policy.Env, conns *callout.Conns) (*Limit, error) {
	g := &Limit{backend: env.Backend(c.Backend), domain: c.Domain, timeout: defaultGlobalTimeout,
		failDeny: c.FailureMode == config.RateLimitFailDeny, log: env.Logger()}
	if g.backend == nil {
		return nil, fmt.Errorf("rate-limit service backend %q is not defined", c.Backend)
	}
	if c.Timeout != nil {
		g.timeout = c.Timeout.Duration
	}
	for i, d := range c.Descriptors {
		entries := make([]globalEntry, 0, len(d.Entries))
		for j, e := range d.Entries {
			p, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, e.Value)
			if err != nil {
				return nil, fmt.Errorf("descriptor %d entry %d: %w", i, j, err)
			}
			entries = append(entries, globalEntry{key: e.Key, value: p})
		}
		g.descriptors = append(g.descriptors, entries)
	}
	// The connection is shared with ext auth checks on the same backend;
	// one HTTP/2 connection carries both services.
	g.conn = conns.Get(g.backend, g.timeout)
	return g, nil
}

// Phase is rate limit.
func (*Limit) Phase() policy.Phase { return policy.PhaseRateLimit }

// Request asks the service; it reports false after answering the client.
// OK lets the request through with the headers the service adds;
// OVER_LIMIT answers 429 with the service's response headers (and a
// Retry-After when it says when the limit resets); a failed call, a
// timeout or an UNKNOWN answer is a failure, which the failure mode
// decides.
func (g *Limit) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	descs := g.requestDescriptors(r, act)
	if len(descs) == 0 {
		return true
	}
	client, err := g.conn.RateLimitClient()
	if err != nil {
		g.log.Debug("global rate limit failed", "backend", g.backend.Name, "error", err)
		return g.failed(w, r)
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	resp, err := client.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{Domain: g.domain, Descriptors: descs, HitsAddend: 1})
	if err != nil {
		g.log.Debug("global rate limit failed", "backend", g.backend.Name, "error", err)
		return g.failed(w, r)
	}
	switch resp.GetOverallCode() {
	case rlsv3.RateLimitResponse_OK:
		addHeaderValues(r.Header, resp.GetRequestHeadersToAdd())
		addHeaderValues(w.Header(), resp.GetResponseHeadersToAdd())
		return true
	case rlsv3.RateLimitResponse_OVER_LIMIT:
		addHeaderValues(w.Header(), resp.GetResponseHeadersToAdd())
		if wait, ok := resetWait(resp); ok && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", policy.RetryAfter(wait))
		}
		policy.Error(w, r, http.StatusTooManyRequests, "rate limit exceeded")
		return false
	default:
		g.log.Debug("global rate limit failed", "backend", g.backend.Name, "error", "the service answered UNKNOWN")
		return g.failed(w, r)
	}
}

// requestDescriptors evaluates the descriptors for r. As in Envoy, a
// descriptor one of whose entries cannot be computed (an error or an empty
// value) is not sent.
func (g *Limit) requestDescriptors(r *http.Request, act *cel.Activation) []*rlv3.RateLimitDescriptor {
	out := make([]*rlv3.RateLimitDescriptor, 0, len(g.descriptors))
	ctx := r.Context()
next:
	for _, d := range g.descriptors {
		rd := &rlv3.RateLimitDescriptor{Entries: make([]*rlv3.RateLimitDescriptor_Entry, 0, len(d))}
		for _, e := range d {
			v, err := e.value.EvalString(ctx, act)
			if err != nil || v == "" {
				continue next
			}
			rd.Entries = append(rd.Entries, &rlv3.RateLimitDescriptor_Entry{Key: e.key, Value: v})
		}
		out = append(out, rd)
	}
	return out
}

// failed applies the failure mode: Allow lets the request through, Deny
// answers 503.
func (g *Limit) failed(w http.ResponseWriter, r *http.Request) bool {
	if !g.failDeny {
		return true
	}
	policy.Error(w, r, http.StatusServiceUnavailable, "rate limit service unavailable")
	return false
}

// resetWait is the shortest time until an exceeded limit resets, when the
// service says.
func resetWait(resp *rlsv3.RateLimitResponse) (time.Duration, bool) {
	var wait time.Duration
	found := false
	for _, s := range resp.GetStatuses() {
		if s.GetCode() != rlsv3.RateLimitResponse_OVER_LIMIT || s.GetDurationUntilReset() == nil {
			continue
		}
		d := s.GetDurationUntilReset().AsDuration()
		if !found || d < wait {
			wait, found = d, true
		}
	}
	return wait, found
}

// addHeaderValues adds the service's headers; invalid ones, pseudo
// headers, Host and framing headers are skipped.
func addHeaderValues(h http.Header, hvs []*corev3.HeaderValue) {
	for _, hv := range hvs {
		value := hv.GetValue()
		if value == "" && len(hv.GetRawValue()) > 0 {
			value = string(hv.GetRawValue())
		}
		if !callout.SettableHeader(hv.GetKey()) || !httpguts.ValidHeaderFieldValue(value) {
			continue
		}
		h.Add(hv.GetKey(), value)
	}
}
