package dataplane

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/apikey"
	"github.com/agentgateway/agentgateway-go/proxy/policy/authz"
	"github.com/agentgateway/agentgateway-go/proxy/policy/basicauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/bodylimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/csrf"
	"github.com/agentgateway/agentgateway-go/proxy/policy/extauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/globalratelimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/jwtauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/transform"
)

// trafficPolicy is a compiled config.TrafficPolicy: its policies as steps
// sorted by phase (see package policy), run in that order for every request
// of the rule, and those of them that also act on the backend's response.
type trafficPolicy struct {
	steps     []policy.Step
	responses []policy.ResponseStep
	// mcp decides the MCP operations of the rule's MCP backends (mcp.go).
	mcp *authz.Rules
}

// buildTraffic compiles the traffic policy of one rule of the route routeKey.
// Rate-limit buckets are scoped to the route: the API promises one bucket per
// route (or per key value and route), so two routes with identical limits
// must not drain each other's buckets.
func buildTraffic(tp *config.TrafficPolicy, env *buildEnv, routeKey string) (*trafficPolicy, error) {
	if tp == nil {
		return nil, nil
	}
	var steps []policy.Step
	add := func(s policy.Step) { steps = append(steps, s) }
	if bl := bodylimit.New(tp.BodyLimits); bl != nil {
		add(bl)
	}
	if e := tp.ExtAuth; e != nil {
		ea, err := extauth.New(e, policyEnv{env}, env.authz)
		if err != nil {
			return nil, err
		}
		add(ea)
	}
	if t := tp.Transformation; t != nil {
		tr, err := transform.New(t)
		if err != nil {
			return nil, err
		}
		if tr != nil {
			add(tr)
		}
	}
	if j := tp.JWTAuthentication; j != nil {
		ja, err := jwtauth.New(j)
		if err != nil {
			return nil, fmt.Errorf("jwt authentication: %w", err)
		}
		add(ja)
	}
	if a := tp.APIKeyAuthentication; a != nil {
		add(apikey.New(a))
	}
	if b := tp.BasicAuthentication; b != nil {
		ba, err := basicauth.New(b)
		if err != nil {
			return nil, fmt.Errorf("basic authentication: %w", err)
		}
		add(ba)
	}
	if c := tp.CSRF; c != nil {
		add(csrf.New(c))
	}
	if a := tp.Authorization; a != nil {
		az, err := authz.New(a)
		if err != nil {
			return nil, err
		}
		if az != nil {
			add(az)
		}
	}
	if rl := tp.RateLimit; rl != nil {
		for i := range rl.Local {
			l, err := env.limiters.Get(routeKey, &rl.Local[i])
			if err != nil {
				return nil, fmt.Errorf("rate limit %d: %w", i, err)
			}
			add(env.metrics.countLimit(l, routeKey, "local"))
		}
		if rl.Global != nil {
			g, err := globalratelimit.New(rl.Global, policyEnv{env}, env.authz)
			if err != nil {
				return nil, fmt.Errorf("global rate limit: %w", err)
			}
			add(env.metrics.countLimit(g, routeKey, "global"))
		}
	}
	// Stable: within a phase, steps keep the order above (jwt, API key,
	// basic; local limits, then global).
	slices.SortStableFunc(steps, func(a, b policy.Step) int { return cmp.Compare(a.Phase(), b.Phase()) })
	out := &trafficPolicy{steps: steps}
	if a := tp.MCPAuthorization; a != nil {
		az, err := authz.NewMCP(a)
		if err != nil {
			return nil, fmt.Errorf("mcp authorization: %w", err)
		}
		out.mcp = az
	}
	for _, s := range steps {
		if rs, ok := s.(policy.ResponseStep); ok {
			out.responses = append(out.responses, rs)
		}
	}
	return out, nil
}

// enforce runs the steps in phase order (body limits, authentication, CSRF,
// ext auth, authorization, rate limiting, request transformation); it
// reports false after a step wrote the rejection. act is kept for the
// response phase.
func (tp *trafficPolicy) enforce(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	for _, s := range tp.steps {
		if !s.Request(w, r, act) {
			return false
		}
	}
	return true
}

// response runs the response side of the steps (the body limit, the
// response transformation) on a backend response; act is nil when the
// request had none.
func (tp *trafficPolicy) response(resp *http.Response, act *cel.Activation) error {
	if tp == nil {
		return nil
	}
	for _, s := range tp.responses {
		if err := s.Response(resp, act); err != nil {
			return err
		}
	}
	return nil
}
