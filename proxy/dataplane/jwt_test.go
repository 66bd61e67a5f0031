package dataplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

type testSigner struct {
	key *ecdsa.PrivateKey
	pub []byte // 0x04 || X || Y
	kid string
}

func newSigner(t *testing.T, kid string) *testSigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{key: k, pub: pub, kid: kid}
}

func (s *testSigner) jwks() string {
	b := func(x []byte) string { return base64.RawURLEncoding.EncodeToString(x) }
	return fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":%q,"alg":"ES256","x":%q,"y":%q}]}`, s.kid, b(s.pub[1:33]), b(s.pub[33:]))
}

func (s *testSigner) sign(t *testing.T, alg string, claims map[string]any) string {
	enc := func(v any) string {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(js)
	}
	signed := enc(map[string]string{"alg": alg, "kid": s.kid, "typ": "JWT"}) + "." + enc(claims)
	d := sha256.Sum256([]byte(signed))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestJWTAuthentication(t *testing.T) {
	a := startBackend(t, "a", false)
	inline := newSigner(t, "k1")
	remote := newSigner(t, "r1")
	other := newSigner(t, "k1") // same kid, different key: a forger
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(remote.jwks()))
	}))
	defer jwksSrv.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
				JWTAuthentication: &config.JWTAuthentication{Providers: []config.JWTProvider{
					{Name: "inline", Issuer: "https://issuer.example.com", Audiences: []string{"api"}, JWKS: config.JWKS{Inline: inline.jwks()},
						ClaimsToHeaders: []config.ClaimToHeader{{Claim: "org.id", Header: "x-org"}}},
					{Name: "remote", Issuer: "https://remote.example.com", JWKS: config.JWKS{RemoteURL: jwksSrv.URL}},
				}},
				Authorization: &config.Authorization{Action: config.AuthorizationDeny, Rules: []string{`jwt.sub == "mallory"`}},
			}},
		)}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	now := time.Now().Unix()
	good := map[string]any{"iss": "https://issuer.example.com", "sub": "alice", "aud": []string{"api"}, "exp": now + 600, "org": map[string]any{"id": 42}}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", 401},
		{"valid", inline.sign(t, "ES256", good), 200},
		{"expired", inline.sign(t, "ES256", with("exp", now-3600)), 401},
		{"not yet valid", inline.sign(t, "ES256", with("nbf", now+3600)), 401},
		{"wrong audience", inline.sign(t, "ES256", with("aud", "other")), 401},
		{"unknown issuer", inline.sign(t, "ES256", with("iss", "https://evil.example.com")), 401},
		{"forged signature", other.sign(t, "ES256", good), 401},
		{"alg none", inline.sign(t, "none", good), 401},
		{"denied subject", inline.sign(t, "ES256", with("sub", "mallory")), 403},
		{"remote jwks", remote.sign(t, "ES256", map[string]any{"iss": "https://remote.example.com", "sub": "bob", "exp": now + 600}), 200},
	}
	for _, c := range cases {
		var hdr []string
		if c.token != "" {
			hdr = []string{"Authorization", "Bearer " + c.token}
		}
		r := get(t, http.DefaultClient, url, "", hdr...)
		if r.code != c.want {
			t.Errorf("%s: got %d, want %d (%s)", c.name, r.code, c.want, r.body)
		}
		if c.name == "valid" && http.Header(r.echo.Headers).Get("X-Org") != "42" {
			t.Errorf("claim to header: %v", r.echo.Headers)
		}
	}
}

// TestJWTSignatureCacheFollowsKeys checks that a token whose signature was
// checked once is still refused once its key is gone from the JWKS, and
// that the same signature with other claims is refused.
func TestJWTSignatureCacheFollowsKeys(t *testing.T) {
	a := startBackend(t, "a", false)
	old, next := newSigner(t, "k1"), newSigner(t, "k1")
	var serving atomic.Pointer[testSigner]
	serving.Store(old)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(serving.Load().jwks()))
	}))
	defer jwksSrv.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
				JWTAuthentication: &config.JWTAuthentication{Providers: []config.JWTProvider{
					{Name: "remote", Issuer: "https://remote.example.com", JWKS: config.JWKS{RemoteURL: jwksSrv.URL, CacheDuration: &config.Duration{Duration: time.Millisecond}}},
				}},
			}},
		)}})},
		Backends: []config.Backend{be("a", a.addr)},
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	claims := map[string]any{"iss": "https://remote.example.com", "sub": "alice", "exp": time.Now().Unix() + 600}
	code := func(token string) int {
		return get(t, http.DefaultClient, url, "", "Authorization", "Bearer "+token).code
	}
	tokOld := old.sign(t, "ES256", claims)
	for i := range 3 {
		if c := code(tokOld); c != 200 {
			t.Fatalf("request %d with a valid token: %d", i, c)
		}
	}
	// The same header and signature over other claims.
	parts := strings.Split(tokOld, ".")
	forged := map[string]any{"iss": "https://remote.example.com", "sub": "mallory", "exp": time.Now().Unix() + 600}
	js, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	if c := code(parts[0] + "." + base64.RawURLEncoding.EncodeToString(js) + "." + parts[2]); c != 401 {
		t.Errorf("a verified signature over other claims: %d, want 401", c)
	}

	serving.Store(next)
	tokNext := next.sign(t, "ES256", claims)
	deadline := time.Now().Add(10 * time.Second)
	for code(tokNext) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never accepted a token of the new key")
		}
	}
	if c := code(tokOld); c != 401 {
		t.Errorf("a token of a key no longer in the JWKS, verified before: %d, want 401", c)
	}
}
