// Package streamcert makes the certificates of the config stream (package configstream):
// a CA, serving certificates it signs for the config server's host names, and a holder
// that hands the TLS server its current certificate and renews it before it expires. The
// operator keeps the CA in a Secret (operator/configserver) and delivers its certificate to
// proxies, which trust nothing else on the stream. It uses only the standard library, so
// the proxy and tests can import it.
package streamcert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// CA signs serving certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM and KeyPEM are Cert and Key encoded (KeyPEM as PKCS #8).
	CertPEM, KeyPEM []byte
}

// CALifetime is how long a new CA is valid unless the operator is told otherwise
// (--xds-ca-lifetime).
const CALifetime = 365 * 24 * time.Hour

// NewCA generates a CA (ECDSA P-256) named name, valid for lifetime from now.
func NewCA(name string, lifetime time.Duration) (*CA, error) {
	return NewCAAt(name, time.Now(), lifetime)
}

// NewCAAt is NewCA with now given.
func NewCAAt(name string, now time.Time, lifetime time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"agentgateway-go"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return ParseCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// ParseCA reads a CA certificate and its PKCS #8, PKCS #1 or SEC 1 private key from PEM.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("CA certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate is not a CA")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key: %T cannot sign", pair.PrivateKey)
	}
	return &CA{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Issue signs a serving certificate for hosts (DNS names or IP addresses), valid for
// lifetime from now (never past the CA's own expiry).
func (ca *CA) Issue(hosts []string, lifetime time.Duration) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("issue serving certificate: no host names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-5 * time.Minute), // clock skew between operator and proxies
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServiceHosts are the names a certificate for the config server reachable at host must
// carry: host itself and, for a Service name <svc>.<ns>.svc, its fully qualified form
// <svc>.<ns>.svc.cluster.local.
func ServiceHosts(host string) []string {
	out := []string{host}
	if len(host) > 4 && host[len(host)-4:] == ".svc" {
		out = append(out, host+".cluster.local")
	}
	return out
}

// ParseCertificates returns the certificates of a PEM bundle, skipping other blocks and
// certificates that do not parse, without duplicates.
func ParseCertificates(bundle []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for len(bundle) > 0 {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil || slices.ContainsFunc(out, c.Equal) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// EncodeCertificates is certs as a PEM bundle, in order, without duplicates.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for i, c := range certs {
		if slices.ContainsFunc(certs[:i], c.Equal) {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial number: %w", err)
	}
	return n, nil
}

// Serving holds the config server's current serving certificate and renews it: the TLS
// server reads it on every handshake (GetCertificate), so a renewed certificate is served
// to new connections while established streams keep the one they started with.
type Serving struct {
	// CA signs the certificates until SetCA replaces it.
	CA *CA
	// Hosts the certificates are valid for (see ServiceHosts).
	Hosts []string
	// Lifetime of each certificate (default 7 days); it is renewed when a third of it is
	// left.
	Lifetime time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Renewed, if set, is called with every certificate Run issues after the first.
	Renewed func(*tls.Certificate)

	cur atomic.Pointer[tls.Certificate]
	ca  atomic.Pointer[CA]
}

// Renew issues a new certificate now and serves it from then on.
func (s *Serving) Renew() error {
	ca := s.ca.Load()
	if ca == nil {
		ca = s.CA
	}
	if ca == nil {
		return errors.New("config server certificate: no CA to sign it")
	}
	c, err := ca.Issue(s.Hosts, s.lifetime())
	if err != nil {
		return err
	}
	s.cur.Store(c)
	return nil
}

// SetCA makes ca sign the certificates from now on and serves a certificate it signs
// at once (the CA rotated). Connections established before keep theirs.
func (s *Serving) SetCA(ca *CA) error {
	s.ca.Store(ca)
	return s.Renew()
}

// Signer is the CA signing the certificates now.
func (s *Serving) Signer() *CA {
	if ca := s.ca.Load(); ca != nil {
		return ca
	}
	return s.CA
}

// Current is the certificate served now (nil before the first Renew).
func (s *Serving) Current() *tls.Certificate { return s.cur.Load() }

// GetCertificate is tls.Config.GetCertificate.
func (s *Serving) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.cur.Load()
	if c == nil {
		return nil, errors.New("config server: no serving certificate issued yet")
	}
	return c, nil
}

func (s *Serving) lifetime() time.Duration {
	if s.Lifetime <= 0 {
		return 7 * 24 * time.Hour
	}
	return s.Lifetime
}

// Run issues a certificate if there is none, then renews it when a third of its lifetime is
// left, until ctx ends. A failed renewal is retried after a minute while the
// current certificate stays in use.
func (s *Serving) Run(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s.Current() == nil {
		if err := s.Renew(); err != nil {
			return err
		}
	}
	life := s.lifetime()
	for {
		// A third of the lifetime before expiry (NotAfter may be earlier than asked when the
		// CA expires first; never renew more often than every tenth of the lifetime).
		wait := max(time.Until(s.Current().Leaf.NotAfter.Add(-life/3)), life/10)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := s.Renew(); err != nil {
			log.Error("renew config server certificate; retrying in a minute", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Minute):
			}
			continue
		}
		log.Info("config server certificate renewed", "not_after", s.Current().Leaf.NotAfter)
		if s.Renewed != nil {
			s.Renewed(s.Current())
		}
	}
}
