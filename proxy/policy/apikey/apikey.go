// Package apikey is the API key authentication policy
// (config.APIKeyAuthentication): a key in a header (by default a bearer
// token) is looked up among the configured ones.
package apikey

import (
	"crypto/sha256"
	"net/http"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// result is what the check decided.
type result int

const (
	authNone    result = iota // no credentials presented
	authOK                    // valid credentials
	authInvalid               // credentials presented and wrong
)

// Auth is a compiled APIKeyAuthentication. Keys are looked up by
// their SHA-256, so the comparison time does not depend on how much of a
// guessed key is right.
type Auth struct {
	optional bool
	header   string
	bearer   bool
	keys     map[[32]byte]*cel.APIKey
}

// New compiles c.
func New(c *config.APIKeyAuthentication) *Auth {
	a := &Auth{optional: c.Mode == config.AuthModeOptional, header: http.CanonicalHeaderKey(c.Header), keys: map[[32]byte]*cel.APIKey{}}
	if a.header == "" {
		a.header, a.bearer = "Authorization", true
	}
	for _, k := range c.Keys {
		a.keys[sha256.Sum256([]byte(k.Key))] = &cel.APIKey{Name: k.Name, Metadata: k.Metadata}
	}
	return a
}

// Phase is authentication.
func (*Auth) Phase() policy.Phase { return policy.PhaseAuthentication }

// Request rejects (401) a request with a key that is not listed, or with
// none when a key is required; a valid key becomes the CEL variable apiKey.
func (a *Auth) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	switch res := a.check(r, act); {
	case res == authInvalid, res == authNone && !a.optional:
		policy.Error(w, r, http.StatusUnauthorized, "missing or invalid API key")
		return false
	}
	return true
}

func (a *Auth) check(r *http.Request, act *cel.Activation) result {
	v := r.Header.Get(a.header)
	if a.bearer {
		if rest, ok := cutPrefixFold(v, "Bearer "); ok {
			v = rest
		}
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return authNone
	}
	k, ok := a.keys[sha256.Sum256([]byte(v))]
	if !ok {
		return authInvalid
	}
	act.APIKey = k
	return authOK
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
