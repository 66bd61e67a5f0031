package explain

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/apikey"
	"github.com/agentgateway/agentgateway-go/proxy/policy/authz"
	"github.com/agentgateway/agentgateway-go/proxy/policy/basicauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/csrf"
	"github.com/agentgateway/agentgateway-go/proxy/policy/jwtauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/localratelimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/transform"
)

// step is one traffic policy of a rule and how Explain evaluates it.
type step struct {
	name  string
	phase policy.Phase
	run   func(r *http.Request, act *cel.Activation) Step
}

// policySteps lists a rule's policies in the order the data plane runs
// them: the order proxy/dataplane's buildTraffic adds them in (body
// limits, ext auth, transformation, JWT, API key, basic auth, CSRF,
// authorization, local limits, global limit), sorted stably by phase.
func policySteps(tp *config.TrafficPolicy, routeKey string, opts Options) ([]step, error) {
	var steps []step
	add := func(name string, p policy.Phase, run func(*http.Request, *cel.Activation) Step) {
		steps = append(steps, step{name, p, run})
	}
	if bl := tp.BodyLimits; bl != nil && (bl.Request > 0 || bl.Response > 0) {
		add("bodyLimits", policy.PhaseLimits, func(*http.Request, *cel.Activation) Step {
			return Step{Verdict: Pass, Detail: fmt.Sprintf("request body at most %s (413), response body at most %s (502); the explained request has no body", limit(bl.Request), limit(bl.Response))}
		})
	}
	if e := tp.ExtAuth; e != nil {
		add("extAuth", policy.PhaseExtAuth, func(*http.Request, *cel.Activation) Step {
			return Step{Verdict: Unknown, Detail: describeExtAuth(e) + "; not called by explain"}
		})
	}
	if t := tp.Transformation; t != nil {
		tr, err := transform.New(t)
		if err != nil {
			return nil, err
		}
		if tr != nil {
			add("transformation", policy.PhaseTransform, func(r *http.Request, act *cel.Activation) Step {
				return runStep(tr, r, act, "request transformation applied")
			})
		}
	}
	if j := tp.JWTAuthentication; j != nil {
		ja, err := jwtauth.New(j)
		if err != nil {
			return nil, fmt.Errorf("jwt authentication: %w", err)
		}
		add("jwtAuthentication", policy.PhaseAuthentication, func(r *http.Request, act *cel.Activation) Step {
			return runJWT(j, ja, r, act)
		})
	}
	if a := tp.APIKeyAuthentication; a != nil {
		ak := apikey.New(a)
		header := a.Header
		if header == "" {
			header = "Authorization"
		}
		add("apiKeyAuthentication", policy.PhaseAuthentication, func(r *http.Request, act *cel.Activation) Step {
			if !opts.Credentials && r.Header.Get(header) != "" {
				return Step{Verdict: Unknown, Detail: fmt.Sprintf("a key is present in %s; it is checked against %d configured keys, which this endpoint does not reveal", header, len(a.Keys))}
			}
			st := runStep(ak, r, act, "API key accepted")
			if st.Verdict == Pass && act.APIKey != nil {
				st.Detail = "API key of client " + strconv.Quote(act.APIKey.Name) + " accepted"
			} else if st.Verdict == Pass {
				st.Detail = "no API key, and the key is optional"
			}
			return st
		})
	}
	if b := tp.BasicAuthentication; b != nil {
		ba, err := basicauth.New(b)
		if err != nil {
			return nil, fmt.Errorf("basic authentication: %w", err)
		}
		add("basicAuthentication", policy.PhaseAuthentication, func(r *http.Request, act *cel.Activation) Step {
			if !opts.Credentials && r.Header.Get("Authorization") != "" {
				return Step{Verdict: Unknown, Detail: "credentials are present in Authorization; they are checked against the configured users, which this endpoint does not reveal"}
			}
			return runStep(ba, r, act, "basic credentials accepted")
		})
	}
	if c := tp.CSRF; c != nil {
		add("csrf", policy.PhaseCSRF, func(r *http.Request, act *cel.Activation) Step {
			return runStep(csrf.New(c), r, act, "not a cross-origin state-changing request")
		})
	}
	if a := tp.Authorization; a != nil {
		az, err := authz.New(a)
		if err != nil {
			return nil, err
		}
		if az != nil {
			ext := tp.ExtAuth != nil
			add("authorization", policy.PhaseAuthorization, func(r *http.Request, act *cel.Activation) Step {
				st := runStep(az, r, act, "authorized ("+string(a.Action)+")")
				for _, expr := range a.Rules {
					rr := RuleResult{Expression: expr}
					p, err := cel.Compile(cel.PhaseAuthorization, cel.KindCondition, expr)
					if err == nil {
						var ok bool
						if ok, err = p.EvalBool(r.Context(), act); err == nil {
							rr.Result = strconv.FormatBool(ok)
						}
					}
					if err != nil {
						rr.Result = "error: " + err.Error()
					}
					st.Rules = append(st.Rules, rr)
				}
				if ext {
					st.Detail += "; evaluated without extauthz (ext auth is not called by explain)"
				}
				return st
			})
		}
	}
	if rl := tp.RateLimit; rl != nil {
		// A set of its own: the proxy's buckets are neither read nor drained.
		limiters := localratelimit.NewSet()
		for i := range rl.Local {
			c := &rl.Local[i]
			l, err := limiters.Get(routeKey, c)
			if err != nil {
				return nil, fmt.Errorf("rate limit %d: %w", i, err)
			}
			add(fmt.Sprintf("localRateLimit[%d]", i), policy.PhaseRateLimit, func(r *http.Request, act *cel.Activation) Step {
				burst := c.Requests
				if c.Burst != nil {
					burst = *c.Burst
				}
				d := fmt.Sprintf("%d requests per %s, burst %d, per proxy replica; ", c.Requests, strings.ToLower(string(c.Unit)), burst)
				if c.Key == "" {
					d += "one bucket for route " + routeKey
				} else {
					d += fmt.Sprintf("bucket key %s = %q on route %s", c.Key, l.BucketKey(r, act), routeKey)
				}
				return Step{Verdict: Pass, Detail: d + "; 429 when the bucket is empty (no token taken by explain)"}
			})
		}
		if g := rl.Global; g != nil {
			add("globalRateLimit", policy.PhaseRateLimit, func(r *http.Request, act *cel.Activation) Step {
				return Step{Verdict: Unknown, Detail: fmt.Sprintf("asks rate-limit service %s, domain %q, descriptors %s; not called by explain",
					g.Backend, g.Domain, descriptors(g, r, act))}
			})
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return cmp.Compare(a.phase, b.phase) })
	return steps, nil
}

// runStep runs a compiled policy on the request copy and reports what it
// did.
func runStep(s policy.Step, r *http.Request, act *cel.Activation, passed string) Step {
	rec := recorder()
	if s.Request(rec, r, act) {
		return Step{Verdict: Pass, Detail: passed}
	}
	return Step{Verdict: Reject, Status: rec.Code, Detail: strings.TrimSpace(rec.Body.String())}
}

// runJWT runs the JWT policy unless that would fetch a remote JWKS.
func runJWT(c *config.JWTAuthentication, ja *jwtauth.Auth, r *http.Request, act *cel.Activation) Step {
	remote, present := false, false
	var headers []string
	for _, p := range c.Providers {
		remote = remote || p.JWKS.RemoteURL != ""
		h := p.TokenHeader
		if h == "" {
			h = "Authorization"
		}
		headers = append(headers, h)
		present = present || r.Header.Get(h) != ""
	}
	if remote && present {
		return Step{Verdict: Unknown, Detail: "a token is present; a provider's keys are fetched from a remote JWKS, which explain does not fetch"}
	}
	st := runStep(ja, r, act, "valid token")
	switch {
	case st.Verdict == Reject && !present:
		st.Detail = "no token in " + strings.Join(headers, " or ") + ", and one is required: " + st.Detail
	case st.Verdict == Pass && act.JWT == nil:
		st.Detail = "no token, and the token is optional"
	case st.Verdict == Pass:
		if iss := act.JWT.Iss; iss != "" {
			st.Detail = "valid token of issuer " + strconv.Quote(iss)
		}
	}
	return st
}

func descriptors(g *config.GlobalRateLimit, r *http.Request, act *cel.Activation) string {
	var ds []string
	for _, d := range g.Descriptors {
		var es []string
		for _, e := range d.Entries {
			v := "<error>"
			if p, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, e.Value); err == nil {
				if s, err := p.EvalString(r.Context(), act); err == nil {
					v = strconv.Quote(s)
				}
			}
			es = append(es, e.Key+"="+v)
		}
		ds = append(ds, "["+strings.Join(es, ", ")+"]")
	}
	return strings.Join(ds, " ")
}

func limit(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
