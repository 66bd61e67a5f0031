package dataplane

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// authResult is what an authenticator decided.
type authResult int

const (
	authNone    authResult = iota // no credentials presented
	authOK                        // valid credentials
	authInvalid                   // credentials presented and wrong
)

// apiKeyAuth is a compiled APIKeyAuthentication. Keys are looked up by
// their SHA-256, so the comparison time does not depend on how much of a
// guessed key is right.
type apiKeyAuth struct {
	optional bool
	header   string
	bearer   bool
	keys     map[[32]byte]*cel.APIKey
}

func newAPIKeyAuth(c *config.APIKeyAuthentication) *apiKeyAuth {
	a := &apiKeyAuth{optional: c.Mode == config.AuthModeOptional, header: http.CanonicalHeaderKey(c.Header), keys: map[[32]byte]*cel.APIKey{}}
	if a.header == "" {
		a.header, a.bearer = "Authorization", true
	}
	for _, k := range c.Keys {
		a.keys[sha256.Sum256([]byte(k.Key))] = &cel.APIKey{Name: k.Name, Metadata: k.Metadata}
	}
	return a
}

func (*apiKeyAuth) Phase() policy.Phase { return policy.PhaseAuthentication }

func (a *apiKeyAuth) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	switch res := a.check(r, act); {
	case res == authInvalid, res == authNone && !a.optional:
		localError(w, r, http.StatusUnauthorized, "missing or invalid API key")
		return false
	}
	return true
}

func (a *apiKeyAuth) check(r *http.Request, act *cel.Activation) authResult {
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

// basicAuth is a compiled BasicAuthentication. bcrypt is deliberately
// slow, so successful checks are remembered (by a hash of the credentials)
// to keep it off the hot path.
type basicAuth struct {
	optional bool
	realm    string
	users    map[string]string

	mu       sync.Mutex
	verified map[[32]byte]bool
}

const maxVerified = 10000

func newBasicAuth(c *config.BasicAuthentication) (*basicAuth, error) {
	users, err := config.ParseHtpasswd(c.Htpasswd)
	if err != nil {
		return nil, err
	}
	realm := c.Realm
	if realm == "" {
		realm = "agentgateway"
	}
	return &basicAuth{optional: c.Mode == config.AuthModeOptional, realm: realm, users: users, verified: map[[32]byte]bool{}}, nil
}

func (*basicAuth) Phase() policy.Phase { return policy.PhaseAuthentication }

func (b *basicAuth) Request(w http.ResponseWriter, r *http.Request, _ *cel.Activation) bool {
	switch res := b.check(r); {
	case res == authInvalid, res == authNone && !b.optional:
		w.Header().Set("WWW-Authenticate", `Basic realm="`+b.realm+`", charset="UTF-8"`)
		localError(w, r, http.StatusUnauthorized, "missing or invalid credentials")
		return false
	}
	return true
}

func (b *basicAuth) check(r *http.Request) authResult {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return authInvalid
		}
		return authNone
	}
	hash, ok := b.users[user]
	if !ok {
		return authInvalid
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + hash))
	b.mu.Lock()
	hit := b.verified[key]
	b.mu.Unlock()
	if hit {
		return authOK
	}
	if !checkHash(hash, pass) {
		return authInvalid
	}
	b.mu.Lock()
	if len(b.verified) >= maxVerified {
		b.verified = map[[32]byte]bool{}
	}
	b.verified[key] = true
	b.mu.Unlock()
	return authOK
}

func checkHash(hash, pass string) bool {
	if rest, ok := strings.CutPrefix(hash, "{SHA}"); ok {
		sum := sha1.Sum([]byte(pass))
		want := base64.StdEncoding.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(rest), []byte(want)) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil
}

// csrf is a compiled CSRF policy.
type csrf struct {
	origins map[string]bool
}

func newCSRF(c *config.CSRF) *csrf {
	x := &csrf{origins: map[string]bool{}}
	for _, o := range c.AdditionalOrigins {
		x.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return x
}

func (*csrf) Phase() policy.Phase { return policy.PhaseCSRF }

func (x *csrf) Request(w http.ResponseWriter, r *http.Request, _ *cel.Activation) bool {
	if !x.allowed(r) {
		localError(w, r, http.StatusForbidden, "cross-origin request rejected (CSRF)")
		return false
	}
	return true
}

// allowed accepts safe methods, requests without Origin (not from a
// browser's cross-origin context), same-host origins and listed ones.
func (x *csrf) allowed(r *http.Request) bool {
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
