package dataplane

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/apikey"
	"github.com/agentgateway/agentgateway-go/proxy/policy/authz"
	"github.com/agentgateway/agentgateway-go/proxy/policy/basicauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/bodylimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/csrf"
	"github.com/agentgateway/agentgateway-go/proxy/policy/jwtauth"
	"github.com/agentgateway/agentgateway-go/proxy/policy/transform"
)

// trafficPolicy is a compiled config.TrafficPolicy: its policies as steps
// sorted by phase (see package policy), run in that order for every request
// of the rule, and those of them that also act on the backend's response.
type trafficPolicy struct {
	steps     []policy.Step
	responses []policy.ResponseStep
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
		ea := newExtAuth(e, env)
		if ea.backend == nil {
			return nil, fmt.Errorf("ext auth backend %q is not defined", e.Backend)
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
			l, err := env.limiters.get(routeKey, &rl.Local[i])
			if err != nil {
				return nil, fmt.Errorf("rate limit %d: %w", i, err)
			}
			add(l)
		}
		if rl.Global != nil {
			g, err := newGlobalLimit(rl.Global, env)
			if err != nil {
				return nil, fmt.Errorf("global rate limit: %w", err)
			}
			add(g)
		}
	}
	// Stable: within a phase, steps keep the order above (jwt, API key,
	// basic; local limits, then global).
	slices.SortStableFunc(steps, func(a, b policy.Step) int { return cmp.Compare(a.Phase(), b.Phase()) })
	out := &trafficPolicy{steps: steps}
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

func (*limiter) Phase() policy.Phase { return policy.PhaseRateLimit }

func (l *limiter) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if ok, wait := l.allow(r, act); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		localError(w, r, http.StatusTooManyRequests, "rate limit exceeded")
		return false
	}
	return true
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
