// Package localratelimit is the local rate limit policy
// (config.LocalRateLimit): token buckets in this proxy, one per route or
// per CEL key value and route, kept across reloads.
package localratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// maxBuckets bounds the per-key buckets of one Limiter; when full, the
// buckets are dropped and start over (full again), trading precision
// under key floods for bounded memory.
const maxBuckets = 100000

// Limiter is one token-bucket rate limit, optionally keyed by a CEL value.
type Limiter struct {
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

// Phase is rate limit.
func (*Limiter) Phase() policy.Phase { return policy.PhaseRateLimit }

// Request rejects (429, with Retry-After) a request whose bucket is empty.
func (l *Limiter) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if ok, wait := l.allow(r, act); !ok {
		w.Header().Set("Retry-After", policy.RetryAfter(wait))
		policy.Error(w, r, http.StatusTooManyRequests, "rate limit exceeded")
		return false
	}
	return true
}

// allow takes a token from the request's bucket; when there is none it
// reports how long until the bucket holds one again.
func (l *Limiter) allow(r *http.Request, act *cel.Activation) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.single
	if l.key != nil {
		k := l.BucketKey(r, act)
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

// BucketKey is the key value of the bucket a request takes its token
// from: "" for a limit without a key, and for requests whose key does not
// evaluate (they share one bucket). It takes no token.
func (l *Limiter) BucketKey(r *http.Request, act *cel.Activation) string {
	if l.key == nil {
		return ""
	}
	k, err := l.key.EvalString(r.Context(), act)
	if err != nil {
		return ""
	}
	return k
}

// Set keeps limiters across reloads, keyed by route and config, so a
// reload does not refill every bucket (policy.Kept: Stage, Get, Commit).
type Set struct{ *policy.Kept[*Limiter] }

// NewSet returns an empty set.
func NewSet() *Set { return &Set{policy.NewKept[*Limiter]()} }

// Stage returns a copy of s for building a config.
func (s *Set) Stage() *Set { return &Set{s.Kept.Stage()} }

// Get returns the limiter of c on the route routeKey, the serving one
// when there is one (its buckets kept).
func (s *Set) Get(routeKey string, c *config.LocalRateLimit) (*Limiter, error) {
	spec, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	// Rules of one route with identical limits share buckets (a route-level
	// policy reaches every rule); other routes get their own, also when one
	// Gateway-level policy gives them the same limit.
	return s.Kept.Get(routeKey+"\x00"+string(spec), func() (*Limiter, error) { return newLimiter(c) })
}

func newLimiter(c *config.LocalRateLimit) (*Limiter, error) {
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
	l := &Limiter{rate: float64(c.Requests) / per.Seconds(), burst: float64(burst)}
	l.single = bucket{tokens: l.burst, last: time.Now()}
	if c.Key != "" {
		p, err := cel.Compile(cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, c.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		l.key = p
		l.buckets = map[string]*bucket{}
	}
	return l, nil
}
