package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// A JWT test issuer: the fuzzer supplies header and claims JSON, which are
// signed with one of its keys (or not), and the verdict of jwtAuth.check
// is compared with a reference written from RFC 7515/7519.
type fuzzIssuer struct {
	ed     ed25519.PrivateKey
	ec     *ecdsa.PrivateKey
	auth   *Auth
	issuer string
}

func newFuzzIssuer(t testing.TB) *fuzzIssuer {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	raw, err := ec.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": enc(ed.Public().(ed25519.PublicKey))},
		{"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "x": enc(raw[1:33]), "y": enc(raw[33:])},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(&config.JWTAuthentication{Providers: []config.JWTProvider{{
		Name: "p", Issuer: "https://issuer", Audiences: []string{"api"},
		JWKS:            config.JWKS{Inline: string(jwks)},
		ClaimsToHeaders: []config.ClaimToHeader{{Claim: "sub", Header: "X-Sub"}, {Claim: "a.b", Header: "X-Ab"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzIssuer{ed: ed, ec: ec, auth: a, issuer: "https://issuer"}
}

// sign returns header.claims.signature, signed with the Ed25519 key
// (key 0), the EC key (1) or not at all (a fixed garbage signature).
func (fi *fuzzIssuer) sign(t testing.TB, header, claims []byte, key uint8) string {
	enc := base64.RawURLEncoding.EncodeToString
	signed := enc(header) + "." + enc(claims)
	var sig []byte
	switch key % 3 {
	case 0:
		sig = ed25519.Sign(fi.ed, []byte(signed))
	case 1:
		d := sha256.Sum256([]byte(signed))
		r, s, err := ecdsa.Sign(rand.Reader, fi.ec, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		sig = []byte("not a signature")
	}
	return signed + "." + enc(sig)
}

// refNumericDate reads an RFC 7519 NumericDate claim: absent, or a JSON
// number (possibly fractional or huge); anything else makes the token
// invalid.
func refNumericDate(claims map[string]any, name string) (v float64, present, ok bool) {
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

// refVerdict decides from the parts of a token whether the issuer above
// accepts it at now.
func (fi *fuzzIssuer) refVerdict(header, claimsJSON []byte, key uint8, now time.Time) bool {
	var h map[string]any
	if json.Unmarshal(header, &h) != nil || h == nil {
		return false
	}
	alg, _ := h["alg"].(string)
	kid, _ := h["kid"].(string)
	switch {
	case key%3 == 0 && alg == "EdDSA" && (kid == "" || kid == "ed"):
	case key%3 == 1 && alg == "ES256" && (kid == "" || kid == "ec"):
	default:
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(claimsJSON))
	dec.UseNumber()
	var claims map[string]any
	if dec.Decode(&claims) != nil || claims == nil {
		return false
	}
	if iss, _ := claims["iss"].(string); iss != fi.issuer {
		return false
	}
	skew := clockSkew.Seconds()
	exp, hasExp, ok := refNumericDate(claims, "exp")
	if !ok || hasExp && float64(now.Unix()) > exp+skew {
		return false
	}
	nbf, hasNbf, ok := refNumericDate(claims, "nbf")
	if !ok || hasNbf && float64(now.Unix())+skew < nbf {
		return false
	}
	switch aud := claims["aud"].(type) {
	case string:
		return aud == "api"
	case []any:
		for _, a := range aud {
			if a == "api" {
				return true
			}
		}
	}
	return false
}

// FuzzJWT checks JWT verification against the reference verdict above,
// with fuzzed token headers and claims signed by the issuer's keys, and
// that an accepted token's claims reach the activation.
func FuzzJWT(f *testing.F) {
	fi := newFuzzIssuer(f)
	now := time.Now().Unix()
	for _, c := range []struct {
		header, claims string
		key            uint8
	}{
		{`{"alg":"EdDSA","kid":"ed"}`, `{"iss":"https://issuer","aud":"api","sub":"me","exp":` + strconv.FormatInt(now+600, 10) + `}`, 0},
		{`{"alg":"ES256"}`, `{"iss":"https://issuer","aud":["x","api"],"a":{"b":[1,2]},"nbf":` + strconv.FormatInt(now-10, 10) + `}`, 1},
		{`{"alg":"ES256","kid":"ed"}`, `{"iss":"https://issuer","aud":"api"}`, 1},
		{`{"alg":"none"}`, `{"iss":"https://issuer","aud":"api"}`, 2},
		{`{"alg":"EdDSA"}`, `{"iss":"https://issuer","aud":"api","exp":-1e400}`, 0},
		{`{"alg":"EdDSA"}`, `{"iss":"https://issuer","aud":"api","exp":1e30,"nbf":1e30}`, 0},
		{`{"alg":"EdDSA"}`, `{"iss":"https://issuer","aud":"api","exp":"tomorrow"}`, 0},
		{`{"alg":"EdDSA"}`, `null`, 0},
		{`{"alg":"EdDSA"}`, `{"iss":"https://issuer","aud":"api","sub":"a\r\nX-Injected: 1"}`, 0},
	} {
		f.Add([]byte(c.header), []byte(c.claims), c.key)
	}
	f.Fuzz(func(t *testing.T, header, claims []byte, key uint8) {
		token := fi.sign(t, header, claims, key)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		before := time.Now()
		var act cel.Activation
		res, err := fi.auth.check(r, &act)
		want := fi.refVerdict(header, claims, key, before)
		if got := res == authOK; got != want {
			t.Fatalf("token accepted %v (%v, %v), reference %v\nheader %s\nclaims %s", got, res, err, want, header, claims)
		}
		if res != authOK {
			return
		}
		if act.JWT == nil || act.JWT.Iss != fi.issuer {
			t.Fatalf("accepted with claims %+v", act.JWT)
		}
	})
}
