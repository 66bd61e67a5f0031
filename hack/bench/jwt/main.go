// Command jwt makes a signing key for the policy benchmark and prints what
// the proxy and the load tool need: the JWKS (inline in the proxy config)
// and one token signed with the key, valid for a day.
//
//	jwt -iss https://bench.example -aud bench -jwks jwks.json -token token.txt
//
// The key is RSA 2048 (RS256), what most identity providers sign with; it
// lives only in this process.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"log"
	"math/big"
	"os"
	"time"
)

func main() {
	iss := flag.String("iss", "https://bench.example", "issuer (iss claim)")
	aud := flag.String("aud", "bench", "audience (aud claim)")
	jwksPath := flag.String("jwks", "jwks.json", "where to write the JWKS")
	tokenPath := flag.String("token", "token.txt", "where to write the token")
	flag.Parse()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "bench"})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := json.Marshal(map[string]any{
		"iss": *iss, "aud": *aud, "sub": "bench-user",
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	})
	if err != nil {
		log.Fatal(err)
	}
	signed := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*jwksPath, jwks, 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*tokenPath, []byte(signed+"."+b64(sig)), 0o600); err != nil {
		log.Fatal(err)
	}
}
