// Package basicauth is the HTTP basic authentication policy
// (config.BasicAuthentication) against an htpasswd file's users.
package basicauth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

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

// Auth is a compiled BasicAuthentication. bcrypt is deliberately
// slow, so successful checks are remembered (by a hash of the credentials)
// to keep it off the hot path.
type Auth struct {
	optional bool
	realm    string
	users    map[string]string

	mu       sync.Mutex
	verified map[[32]byte]bool
}

const maxVerified = 10000

// New compiles c.
func New(c *config.BasicAuthentication) (*Auth, error) {
	users, err := config.ParseHtpasswd(c.Htpasswd)
	if err != nil {
		return nil, err
	}
	realm := c.Realm
	if realm == "" {
		realm = "agentgateway"
	}
	return &Auth{optional: c.Mode == config.AuthModeOptional, realm: realm, users: users, verified: map[[32]byte]bool{}}, nil
}

// Phase is authentication.
func (*Auth) Phase() policy.Phase { return policy.PhaseAuthentication }

// Request rejects (401, with WWW-Authenticate) a request with wrong
// credentials, or with none when they are required.
func (b *Auth) Request(w http.ResponseWriter, r *http.Request, _ *cel.Activation) bool {
	switch res := b.check(r); {
	case res == authInvalid, res == authNone && !b.optional:
		w.Header().Set("WWW-Authenticate", `Basic realm="`+b.realm+`", charset="UTF-8"`)
		policy.Error(w, r, http.StatusUnauthorized, "missing or invalid credentials")
		return false
	}
	return true
}

func (b *Auth) check(r *http.Request) result {
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
