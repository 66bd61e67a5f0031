// Package jwtauth is the JWT authentication policy
// (config.JWTAuthentication): a bearer token (or one in a configured
// header) is verified against the issuer's JWKS, inline or fetched and
// cached; its claims become the CEL variable jwt and may be copied into
// request headers.
package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// clockSkew tolerates clocks that disagree a little on exp and nbf.
const clockSkew = 60 * time.Second

// result is what the check decided.
type result int

const (
	authNone    result = iota // no token presented
	authOK                    // a valid token
	authInvalid               // a token presented and not valid
)

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// Auth is a compiled JWTAuthentication.
type Auth struct {
	optional  bool
	providers map[string]*provider // by issuer
	headers   []string             // distinct token headers, canonical
}

type provider struct {
	issuer    string
	audiences []string
	claims    []config.ClaimToHeader
	header    string
	keys      *jwksSource
	verified  sigCache
}

// sigCacheSize bounds the tokens whose signature check a provider
// remembers (about 1 KiB each).
const sigCacheSize = 1024

// sigCache remembers which tokens had a good signature under which key set,
// so a client presenting the same token again costs no public-key
// operation (an RS256 check is most of a policy route's CPU time). Only the
// signature is remembered: claims, exp, nbf and audience are checked on
// every request. A new key set (a JWKS fetch) makes every entry stale.
type sigCache struct {
	mu     sync.Mutex
	tokens map[string]uint64 // token -> jwksSource generation it verified under
}

func (c *sigCache) has(token string, gen uint64) bool {
	c.mu.Lock()
	g, ok := c.tokens[token]
	c.mu.Unlock()
	return ok && g == gen
}

func (c *sigCache) add(token string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.tokens = make(map[string]uint64)
	}
	if len(c.tokens) >= sigCacheSize {
		for k := range c.tokens { // drop one arbitrary entry
			delete(c.tokens, k)
			break
		}
	}
	c.tokens[token] = gen
}

// jwksSource serves a provider's keys: fixed for inline JWKS, fetched and
// cached for remote ones.
type jwksSource struct {
	url   string
	ttl   time.Duration
	mu    sync.Mutex
	keys  []config.JWK
	gen   uint64 // counts the key sets fetched; a token verified under an older one is checked again
	until time.Time
	// fetching serializes fetches so a burst of requests causes one.
	fetching sync.Mutex
}

var jwksClient = &http.Client{Timeout: 5 * time.Second}

// get returns the current keys and their generation.
func (s *jwksSource) get(ctx context.Context) ([]config.JWK, uint64, error) {
	s.mu.Lock()
	keys, gen, fresh := s.keys, s.gen, s.url == "" || time.Now().Before(s.until)
	s.mu.Unlock()
	if fresh {
		return keys, gen, nil
	}
	s.fetching.Lock()
	defer s.fetching.Unlock()
	s.mu.Lock()
	if time.Now().Before(s.until) {
		keys, gen = s.keys, s.gen
		s.mu.Unlock()
		return keys, gen, nil
	}
	s.mu.Unlock()
	fetched, err := fetchJWKS(ctx, s.url)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.keys != nil {
			// Keep using the last good keys rather than locking
			// everybody out while the issuer is unreachable.
			return s.keys, s.gen, nil
		}
		return nil, 0, err
	}
	s.keys, s.until = fetched, time.Now().Add(s.ttl)
	s.gen++
	return fetched, s.gen, nil
}

func fetchJWKS(ctx context.Context, url string) ([]config.JWK, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := jwksClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", url, err)
	}
	return config.ParseJWKS(body)
}

// New compiles c.
func New(c *config.JWTAuthentication) (*Auth, error) {
	a := &Auth{optional: c.Mode == config.AuthModeOptional, providers: map[string]*provider{}}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		src := &jwksSource{url: p.JWKS.RemoteURL, ttl: 5 * time.Minute}
		if p.JWKS.CacheDuration != nil {
			src.ttl = p.JWKS.CacheDuration.Duration
		}
		if p.JWKS.Inline != "" {
			keys, err := config.ParseJWKS([]byte(p.JWKS.Inline))
			if err != nil {
				return nil, fmt.Errorf("provider %s: %w", p.Name, err)
			}
			src.keys = keys
		}
		h := http.CanonicalHeaderKey(p.TokenHeader)
		if h == "" {
			h = "Authorization"
		}
		if !seen[h] {
			seen[h] = true
			a.headers = append(a.headers, h)
		}
		a.providers[p.Issuer] = &provider{issuer: p.Issuer, audiences: p.Audiences, claims: p.ClaimsToHeaders, header: h, keys: src}
	}
	return a, nil
}

// Phase is authentication.
func (*Auth) Phase() policy.Phase { return policy.PhaseAuthentication }

// Request rejects (401, with WWW-Authenticate) a request without a valid
// token, or with none when the token is required.
func (a *Auth) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	switch res, err := a.check(r, act); {
	case res == authInvalid, res == authNone && !a.optional:
		msg := "missing bearer token"
		if err != nil {
			msg = "invalid token: " + err.Error()
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		policy.Error(w, r, http.StatusUnauthorized, msg)
		return false
	}
	return true
}

// check validates the request's token, fills act.JWT and applies
// ClaimsToHeaders.
func (a *Auth) check(r *http.Request, act *cel.Activation) (result, error) {
	var token, header string
	for _, h := range a.headers {
		v := strings.TrimSpace(r.Header.Get(h))
		if rest, ok := cutPrefixFold(v, "Bearer "); ok {
			v = strings.TrimSpace(rest)
		}
		if v != "" && strings.Count(v, ".") == 2 {
			token, header = v, h
			break
		}
	}
	if token == "" {
		return authNone, nil
	}
	claims, p, err := a.verify(r.Context(), token, header)
	if err != nil {
		return authInvalid, err
	}
	act.JWT = cel.NewJWT(claims)
	for _, ch := range p.claims {
		if v, ok := claimString(claims, ch.Claim); ok {
			r.Header.Set(ch.Header, v)
		}
	}
	return authOK, nil
}

func (a *Auth) verify(ctx context.Context, token, header string) (map[string]any, *provider, error) {
	parts := strings.Split(token, ".")
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, nil, errors.New("malformed token")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, nil, errors.New("malformed token header")
	}
	claims := map[string]any{}
	dec := json.NewDecoder(strings.NewReader(string(pb)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, nil, errors.New("malformed token claims")
	}
	iss, _ := claims["iss"].(string)
	p := a.providers[iss]
	if p == nil || p.header != header {
		return nil, nil, fmt.Errorf("untrusted issuer %q", iss)
	}
	keys, gen, err := p.keys.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !p.verified.has(token, gen) {
		if !verifyWithKeys(keys, hdr.Alg, hdr.Kid, []byte(parts[0]+"."+parts[1]), sig) {
			return nil, nil, errors.New("bad signature")
		}
		p.verified.add(token, gen)
	}
	now, skew := float64(time.Now().Unix()), clockSkew.Seconds()
	exp, hasExp, ok := numClaim(claims, "exp")
	if !ok {
		return nil, nil, errors.New("malformed exp claim")
	}
	if hasExp && now > exp+skew {
		return nil, nil, errors.New("token expired")
	}
	nbf, hasNbf, ok := numClaim(claims, "nbf")
	if !ok {
		return nil, nil, errors.New("malformed nbf claim")
	}
	if hasNbf && now+skew < nbf {
		return nil, nil, errors.New("token not yet valid")
	}
	if len(p.audiences) > 0 && !audienceOK(claims["aud"], p.audiences) {
		return nil, nil, errors.New("token audience not accepted")
	}
	return claims, p, nil
}

// verifyWithKeys reports whether sig signs signed under one of keys that
// fits the token's alg and kid.
func verifyWithKeys(keys []config.JWK, alg, kid string, signed, sig []byte) bool {
	for _, k := range keys {
		if kid != "" && k.KeyID != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if verifySig(alg, k.Key, signed, sig) {
			return true
		}
	}
	return false
}

func verifySig(alg string, key crypto.PublicKey, signed, sig []byte) bool {
	digest := func(h hash.Hash) []byte { h.Write(signed); return h.Sum(nil) }
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return false
		}
		var h crypto.Hash
		var d []byte
		switch alg[2:] {
		case "256":
			h, d = crypto.SHA256, digest(sha256.New())
		case "384":
			h, d = crypto.SHA384, digest(sha512.New384())
		default:
			h, d = crypto.SHA512, digest(sha512.New())
		}
		if alg[0] == 'P' {
			return rsa.VerifyPSS(k, h, d, sig, nil) == nil
		}
		return rsa.VerifyPKCS1v15(k, h, d, sig) == nil
	case "ES256", "ES384", "ES512":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		var d []byte
		switch alg {
		case "ES256":
			d = digest(sha256.New())
		case "ES384":
			d = digest(sha512.New384())
		default:
			d = digest(sha512.New())
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, d, r, s)
	case "EdDSA":
		k, ok := key.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, signed, sig)
	}
	// "none", HS* and anything unknown never verify.
	return false
}

// numClaim reads a NumericDate claim (RFC 7519 §2): a JSON number of
// seconds, possibly fractional; one too large for a float is ±Inf. A
// claim that is present but not a number is malformed (ok false), so that
// it fails the token instead of being ignored.
func numClaim(claims map[string]any, name string) (v float64, present, ok bool) {
	c, present := claims[name]
	if !present {
		return 0, false, true
	}
	n, isNum := c.(json.Number)
	if !isNum {
		return 0, true, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, true, false
	}
	return f, true, true
}

func audienceOK(aud any, accepted []string) bool {
	var got []string
	switch v := aud.(type) {
	case string:
		got = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				got = append(got, s)
			}
		}
	}
	for _, g := range got {
		for _, a := range accepted {
			if g == a {
				return true
			}
		}
	}
	return false
}

// claimString reads a (dotted) claim as a header value.
func claimString(claims map[string]any, path string) (string, bool) {
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	default:
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
}
