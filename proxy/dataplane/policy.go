package dataplane

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// trafficPolicy is a compiled config.TrafficPolicy.
type trafficPolicy struct {
	extAuth       *extAuth
	reqTransform  *transformRules
	respTransform *transformRules
	jwt           *jwtAuth
	apiKey        *apiKeyAuth
	basic         *basicAuth
	csrf          *csrf
	authAction    config.AuthorizationAction
	authRules     []*cel.Program
	limits        []*limiter
	bodyLimits    *bodyLimits
	global        *globalLimit // globalratelimit.go
}

// buildTraffic compiles the traffic policy of one rule of the route routeKey.
// Rate-limit buckets are scoped to the route: the API promises one bucket per
// route (or per key value and route), so two routes with identical limits
// must not drain each other's buckets.
func buildTraffic(tp *config.TrafficPolicy, env *buildEnv, routeKey string) (*trafficPolicy, error) {
	if tp == nil {
		return nil, nil
	}
	limiters := env.limiters
	out := &trafficPolicy{bodyLimits: newBodyLimits(tp.BodyLimits)}
	if e := tp.ExtAuth; e != nil {
		out.extAuth = newExtAuth(e, env)
		if out.extAuth.backend == nil {
			return nil, fmt.Errorf("ext auth backend %q is not defined", e.Backend)
		}
	}
	if t := tp.Transformation; t != nil {
		var err error
		if out.reqTransform, err = compileTransform(t.Request, false); err != nil {
			return nil, fmt.Errorf("request transformation: %w", err)
		}
		if out.respTransform, err = compileTransform(t.Response, true); err != nil {
			return nil, fmt.Errorf("response transformation: %w", err)
		}
	}
	if j := tp.JWTAuthentication; j != nil {
		ja, err := newJWTAuth(j)
		if err != nil {
			return nil, fmt.Errorf("jwt authentication: %w", err)
		}
		out.jwt = ja
	}
	if a := tp.APIKeyAuthentication; a != nil {
		out.apiKey = newAPIKeyAuth(a)
	}
	if b := tp.BasicAuthentication; b != nil {
		ba, err := newBasicAuth(b)
		if err != nil {
			return nil, fmt.Errorf("basic authentication: %w", err)
		}
		out.basic = ba
	}
	if c := tp.CSRF; c != nil {
		out.csrf = newCSRF(c)
	}
	if a := tp.Authorization; a != nil {
		out.authAction = a.Action
		for i, expr := range a.Rules {
			p, err := cel.Compile(cel.PhaseAuthorization, cel.KindCondition, expr)
			if err != nil {
				return nil, fmt.Errorf("authorization rule %d: %w", i, err)
			}
			out.authRules = append(out.authRules, p)
		}
	}
	if rl := tp.RateLimit; rl != nil {
		for i := range rl.Local {
			l, err := limiters.get(routeKey, &rl.Local[i])
			if err != nil {
				return nil, fmt.Errorf("rate limit %d: %w", i, err)
			}
			out.limits = append(out.limits, l)
		}
		if rl.Global != nil {
			g, err := newGlobalLimit(rl.Global, env)
			if err != nil {
				return nil, fmt.Errorf("global rate limit: %w", err)
			}
			out.global = g
		}
	}
	return out, nil
}

// enforce runs the policy phases in order (authentication, CSRF, ext
// auth, authorization, rate limiting, request transformation); it reports
// false after writing the rejection. act is kept for the response phase.
func (tp *trafficPolicy) enforce(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if !tp.bodyLimits.limitRequest(w, r) {
		return false
	}
	if tp.jwt != nil {
		switch res, err := tp.jwt.check(r, act); {
		case res == authInvalid, res == authNone && !tp.jwt.optional:
			msg := "missing bearer token"
			if err != nil {
				msg = "invalid token: " + err.Error()
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			localError(w, r, http.StatusUnauthorized, msg)
			return false
		}
	}
	if tp.apiKey != nil {
		switch res := tp.apiKey.check(r, act); {
		case res == authInvalid, res == authNone && !tp.apiKey.optional:
			localError(w, r, http.StatusUnauthorized, "missing or invalid API key")
			return false
		}
	}
	if tp.basic != nil {
		switch res := tp.basic.check(r); {
		case res == authInvalid, res == authNone && !tp.basic.optional:
			w.Header().Set("WWW-Authenticate", `Basic realm="`+tp.basic.realm+`", charset="UTF-8"`)
			localError(w, r, http.StatusUnauthorized, "missing or invalid credentials")
			return false
		}
	}
	if tp.csrf != nil && !tp.csrf.allowed(r) {
		localError(w, r, http.StatusForbidden, "cross-origin request rejected (CSRF)")
		return false
	}
	if tp.extAuth != nil && !tp.extAuth.check(w, r, act) {
		return false
	}
	if len(tp.authRules) > 0 && !tp.authorized(r, act) {
		localError(w, r, http.StatusForbidden, "forbidden by authorization policy")
		return false
	}
	for _, l := range tp.limits {
		if ok, wait := l.allow(r, act); !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			localError(w, r, http.StatusTooManyRequests, "rate limit exceeded")
			return false
		}
	}
	if tp.global != nil && !tp.global.check(w, r, act) {
		return false
	}
	if tp.reqTransform != nil && !tp.transformRequest(w, r, act) {
		return false
	}
	return true
}

// authorized applies the action. Evaluation errors fail closed: an Allow
// or Require rule that errors does not match, a Deny rule that errors
// matches.
func (tp *trafficPolicy) authorized(r *http.Request, act *cel.Activation) bool {
	ctx := r.Context()
	switch tp.authAction {
	case config.AuthorizationAllow:
		for _, p := range tp.authRules {
			if ok, err := p.EvalBool(ctx, act); err == nil && ok {
				return true
			}
		}
		return false
	case config.AuthorizationDeny:
		for _, p := range tp.authRules {
			if ok, err := p.EvalBool(ctx, act); err != nil || ok {
				return false
			}
		}
		return true
	default: // Require
		for _, p := range tp.authRules {
			if ok, err := p.EvalBool(ctx, act); err != nil || !ok {
				return false
			}
		}
		return true
	}
}

// maxBuckets bounds the per-key buckets of one limiter; when full, the
// buckets are dropped and start over (full again), trading precision
// under key floods for bounded memory.
const maxBuckets = 100000

// limiter is one token-bucket rate limit, optionally keyed by a CEL value.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	key   *cel.Program

	mu      sync.Mutex
	single  bucket
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token from the request's bucket; when there is none it
// reports how long until the bucket holds one again.
func (l *limiter) allow(r *http.Request, act *cel.Activation) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.single
	if l.key != nil {
		k, err := l.key.EvalString(r.Context(), act)
		if err != nil {
			k = "" // requests without a usable key share one bucket
		}
		b = l.buckets[k]
		if b == nil {
			if len(l.buckets) >= maxBuckets {
				l.buckets = map[string]*bucket{}
			}
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[k] = b
		}
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// retryAfter renders a wait as Retry-After seconds, rounded up: a client that
// comes back sooner would only be refused again.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// limiterSet keeps limiters across reloads, keyed by their config, so a
// reload does not refill every bucket.
type limiterSet struct {
	mu   sync.Mutex
	all  map[string]*limiter
	used map[string]bool // by the config being built
}

func newLimiterSet() *limiterSet {
	return &limiterSet{all: map[string]*limiter{}}
}

// begin starts building a config; get marks limiters as used; commit
// drops the unused ones.
func (s *limiterSet) begin() {
	s.mu.Lock()
	s.used = map[string]bool{}
	s.mu.Unlock()
}

func (s *limiterSet) get(routeKey string, c *config.LocalRateLimit) (*limiter, error) {
	spec, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Rules of one route with identical limits share buckets (a route-level
	// policy reaches every rule); other routes get their own, also when one
	// Gateway-level policy gives them the same limit.
	k := routeKey + "\x00" + string(spec)
	s.used[k] = true
	if l := s.all[k]; l != nil {
		return l, nil
	}
	per := time.Second
	switch c.Unit {
	case config.RateLimitMinute:
		per = time.Minute
	case config.RateLimitHour:
		per = time.Hour
	}
	burst := c.Requests
	if c.Burst != nil {
		burst = *c.Burst
	}
	l := &limiter{rate: float64(c.Requests) / per.Seconds(), burst: float64(burst)}
	l.single = bucket{tokens: l.burst, last: time.Now()}
	if c.Key != "" {
		p, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, c.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		l.key = p
		l.buckets = map[string]*bucket{}
	}
	s.all[k] = l
	return l, nil
}

func (s *limiterSet) commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.all {
		if !s.used[k] {
			delete(s.all, k)
		}
	}
}
