// Package csrf is the CSRF policy (config.CSRF): state-changing requests
// from another origin than the request's host (or a listed one) are
// rejected.
package csrf

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// Policy is a compiled CSRF policy.
type Policy struct {
	origins map[string]bool
}

// New compiles c.
func New(c *config.CSRF) *Policy {
	x := &Policy{origins: map[string]bool{}}
	for _, o := range c.AdditionalOrigins {
		x.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return x
}

// Phase is CSRF.
func (*Policy) Phase() policy.Phase { return policy.PhaseCSRF }

// Request rejects (403) a cross-origin request that changes state.
func (x *Policy) Request(w http.ResponseWriter, r *http.Request, _ *cel.Activation) bool {
	if !x.allowed(r) {
		policy.Error(w, r, http.StatusForbidden, "cross-origin request rejected (CSRF)")
		return false
	}
	return true
}

// allowed accepts safe methods, requests without Origin (not from a
// browser's cross-origin context), same-host origins and listed ones.
func (x *Policy) allowed(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		// Browsers send Sec-Fetch-Site on every request; trust it when
		// Origin is absent.
		site := r.Header.Get("Sec-Fetch-Site")
		return site == "" || site == "same-origin" || site == "none"
	}
	o := strings.ToLower(origin)
	if x.origins[o] {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
