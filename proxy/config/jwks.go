package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// JWK is one usable verification key of a JWKS.
type JWK struct {
	KeyID     string
	Algorithm string // "alg" of the key, may be empty
	Key       crypto.PublicKey
}

// ParseJWKS parses a JWKS document and returns its usable public keys.
// Keys of unsupported types (including symmetric "oct" keys) are skipped;
// a document without any usable key is an error.
func ParseJWKS(data []byte) ([]JWK, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS JSON: %w", err)
	}
	var out []JWK
	var errs []error
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaKey(k.N, k.E)
		case "EC":
			pub, err = ecKey(k.Crv, k.X, k.Y)
		case "OKP":
			if k.Crv != "Ed25519" {
				err = fmt.Errorf("unsupported OKP curve %q", k.Crv)
				break
			}
			var x []byte
			x, err = b64(k.X)
			if err == nil && len(x) != ed25519.PublicKeySize {
				err = errors.New("bad Ed25519 key length")
			}
			pub = ed25519.PublicKey(x)
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err))
			continue
		}
		out = append(out, JWK{KeyID: k.Kid, Algorithm: k.Alg, Key: pub})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS has no usable signing key (RSA, EC or Ed25519)")
	}
	return out, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// maxRSABits is the longest RSA modulus accepted.
const maxRSABits = 8192

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := b64(n)
	if err != nil {
		return nil, errors.New("RSA modulus malformed")
	}
	// crypto/rsa refuses to verify with an even modulus or an exponent
	// that is even, below 3 or above 2^31-1: such a key is an error here
	// rather than a key that silently never verifies.
	nv := new(big.Int).SetBytes(nb)
	if nv.BitLen() < 2048 || nv.Bit(0) == 0 {
		return nil, errors.New("RSA modulus missing, even or shorter than 2048 bits")
	}
	// Verifying gets slow fast with the modulus size: a JWKS (fetched
	// from a URL) with a huge modulus would make every token check costly.
	if nv.BitLen() > maxRSABits {
		return nil, fmt.Errorf("RSA modulus longer than %d bits", maxRSABits)
	}
	eb, err := b64(e)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("RSA exponent malformed")
	}
	ev := new(big.Int).SetBytes(eb).Int64()
	if ev < 3 || ev&1 == 0 || ev > 1<<31-1 {
		return nil, fmt.Errorf("RSA exponent %d is not an odd number from 3 to 2^31-1", ev)
	}
	return &rsa.PublicKey{N: nv, E: int(ev)}, nil
}

func ecKey(crv, x, y string) (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported EC curve %q", crv)
	}
	xb, err1 := b64(x)
	yb, err2 := b64(y)
	if err1 != nil || err2 != nil {
		return nil, errors.New("EC coordinates malformed")
	}
	size := (c.Params().BitSize + 7) / 8
	if len(xb) != size || len(yb) != size {
		return nil, errors.New("EC coordinates have the wrong length")
	}
	// Checking the point through ecdh-style parsing rejects invalid
	// curve points (a classic JWT attack).
	raw := append([]byte{4}, append(xb, yb...)...)
	pk, err := ecdsa.ParseUncompressedPublicKey(c, raw)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return pk, nil
}
