package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// jwkJSON encodes a public key as a JWK, with the standard library's
// encodings (the reference for what ParseJWKS reads).
func jwkJSON(t testing.TB, k JWK) map[string]string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": k.KeyID, "alg": k.Algorithm}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", enc(key.N.Bytes()), enc(big.NewInt(int64(key.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := key.Bytes()
		if err != nil {
			t.Fatalf("EC key %v: %v", key, err)
		}
		size := (len(raw) - 1) / 2
		m["kty"], m["crv"], m["x"], m["y"] = "EC", key.Curve.Params().Name, enc(raw[1:1+size]), enc(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc(key)
	default:
		t.Fatalf("unexpected key type %T", k.Key)
	}
	return m
}

func jwksJSON(t testing.TB, keys []JWK) []byte {
	t.Helper()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	for _, k := range keys {
		doc.Keys = append(doc.Keys, jwkJSON(t, k))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseJWKS checks that every key ParseJWKS returns is one the
// standard library verifies with (crypto/rsa's rules for a public key,
// a point on the curve), that using it never panics, and that the keys
// survive an encode/parse round trip.
func FuzzParseJWKS(f *testing.F) {
	// Parsing needs no real RSA key: an odd 2048-bit modulus (generating
	// a key would slow down every fuzz worker's start).
	rk := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 2047), big.NewInt(12345)), E: 65537}
	ek, err := ecdsa.GenerateKey(elliptic.P384(), nil)
	if err != nil {
		f.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public()
	f.Add(jwksJSON(f, []JWK{{KeyID: "r", Algorithm: "RS256", Key: rk}, {KeyID: "e", Key: &ek.PublicKey}, {Key: ed}}))
	even := &rsa.PublicKey{N: new(big.Int).Lsh(rk.N, 1), E: 65537}
	f.Add(jwksJSON(f, []JWK{{Key: even}}))
	f.Add(jwksJSON(f, []JWK{{Key: &rsa.PublicKey{N: rk.N, E: 1}}}))
	f.Add(jwksJSON(f, []JWK{{Key: &rsa.PublicKey{N: rk.N, E: 1<<32 - 1}}}))
	huge := new(big.Int).Lsh(big.NewInt(1), 1<<16)
	f.Add(jwksJSON(f, []JWK{{Key: &rsa.PublicKey{N: huge.Add(huge, big.NewInt(1)), E: 65537}}}))
	for _, s := range []string{
		`{"keys":[{"kty":"oct","k":"AAAA"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`,
		`{"keys":[{"kty":"OKP","crv":"X25519","x":"AA"}]}`,
		`{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":null}`, `[]`, `{"keys":[null]}`,
	} {
		f.Add([]byte(s))
	}
	digest := sha256.Sum256([]byte("signed"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err != nil {
			if len(keys) != 0 {
				t.Fatalf("keys with an error: %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for _, k := range keys {
			switch key := k.Key.(type) {
			case *rsa.PublicKey:
				if key.N.Bit(0) == 0 || key.N.BitLen() < 2048 || key.N.BitLen() > maxRSABits || key.E < 3 || key.E&1 == 0 || key.E > 1<<31-1 {
					t.Fatalf("RSA key no verification can use: %d-bit modulus (odd %v), exponent %d", key.N.BitLen(), key.N.Bit(0) == 1, key.E)
				}
				sig := make([]byte, (key.N.BitLen()+7)/8)
				err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig)
				if err == nil || strings.Contains(err.Error(), "exponent") || strings.Contains(err.Error(), "modulus") {
					t.Fatalf("verifying with the RSA key: %v", err)
				}
			case *ecdsa.PublicKey:
				if ecdsa.Verify(key, digest[:], big.NewInt(1), big.NewInt(1)) {
					t.Fatal("a bogus EC signature verified")
				}
			case ed25519.PublicKey:
				if len(key) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key %x", []byte(key))
				}
				ed25519.Verify(key, digest[:], make([]byte, ed25519.SignatureSize))
			default:
				t.Fatalf("key type %T", k.Key)
			}
		}
		again, err := ParseJWKS(jwksJSON(t, keys))
		if err != nil || len(again) != len(keys) {
			t.Fatalf("re-encoded keys: %d, %v", len(again), err)
		}
		for i := range keys {
			a, b := keys[i], again[i]
			if a.KeyID != b.KeyID || a.Algorithm != b.Algorithm || !a.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Key) {
				t.Fatalf("key %d: %+v, after a round trip %+v", i, a, b)
			}
		}
	})
}

// FuzzParseHtpasswd checks that every hash ParseHtpasswd accepts is one
// the runtime can check a password against (bcrypt.Cost parses it, or a
// {SHA} digest decodes to 20 bytes), so no user is accepted that could
// never log in, and that the users survive a write/parse round trip.
func FuzzParseHtpasswd(f *testing.F) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	sum := sha1.Sum([]byte("pw"))
	sha := "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
	for _, s := range []string{
		"alice:" + string(hash) + "\nbob:" + sha + "\n",
		"# comment\r\n\r\n  carol:" + sha + "  \r\n",
		"dave:$2y$",
		"erin:{SHA}bm90IGJhc2U2NA",
		"frank:$2a$04$short",
		"a:b:c",
		":x",
		"u:" + sha + "\nu:" + sha,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		users, err := ParseHtpasswd(data)
		if err != nil {
			return
		}
		var b strings.Builder
		for user, hash := range users {
			// A space before the ':' belongs to the user, as in Apache.
			if user == "" || strings.ContainsAny(user, ":\n") || strings.TrimLeft(user, " \t\r") != user || strings.HasPrefix(user, "#") {
				t.Fatalf("user %q", user)
			}
			if rest, ok := strings.CutPrefix(hash, "{SHA}"); ok {
				if d, err := base64.StdEncoding.DecodeString(rest); err != nil || len(d) != sha1.Size {
					t.Fatalf("user %q: {SHA} hash %q is not a base64 SHA-1 digest", user, hash)
				}
			} else if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				t.Fatalf("user %q: bcrypt hash %q: %v", user, hash, err)
			}
			fmt.Fprintf(&b, "%s:%s\n", user, hash)
		}
		again, err := ParseHtpasswd(b.String())
		if err != nil || len(again) != len(users) {
			t.Fatalf("round trip: %d users, %v", len(again), err)
		}
		for u, h := range users {
			if again[u] != h {
				t.Fatalf("round trip: user %q hash %q, was %q", u, again[u], h)
			}
		}
	})
}

// FuzzDecodeJSON compares Decode, which reads JSON through the YAML
// parser, with encoding/json reading the same JSON text strictly (the
// reference): whatever both accept must be the same config. (Decode may
// refuse what encoding/json takes, such as duplicate keys, and take
// what it refuses, such as 1.0 for an integer.)
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"version":"1","binds":[{"name":"a","port":1,"protocol":"HTTP","listeners":[{"name":"l","protocol":"HTTP"}]}]}`,
		`{"version":"1","binds":[{"name":"a","port":1.0,"protocol":"HTTP"}]}`,
		`{"version":"1","version":"2"}`,
		`{"version":"\u00e9\ud800","backends":[{"name":"b","endpoints":[{"address":"1.2.3.4:80"}]}]}`,
		`{"version":"1e400"}`, `{"binds":[{"port":1e400}]}`, `{"binds":[{"port":65536}]}`, `{"Version":"1"}`,
		`{"binds":[{"name":"a","port":80,"protocol":"HTTP","listeners":[{"name":"l","protocol":"HTTP","httpRoutes":[{"namespace":"n","name":"r","creationTimestamp":"2026-01-01T00:00:00Z","rules":[{}]}]}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		var ref Config
		refErr := dec.Decode(&ref)
		got, err := Decode(data)
		if err != nil || refErr != nil {
			return
		}
		a, err := Encode(got)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		b, err := Encode(&ref)
		if err != nil {
			t.Fatalf("encode reference: %v", err)
		}
		if string(a) != string(b) {
			t.Fatalf("Decode read %s\nas\n%s\nencoding/json as\n%s", data, a, b)
		}
	})
}
