package streamcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

func TestIssueVerifiesForHostsOnly(t *testing.T) {
	ca, err := NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("ParseCA: %v", err)
	}
	c, err := ca.Issue(ServiceHosts("agentgateway-xds.ns.svc"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{"agentgateway-xds.ns.svc", "agentgateway-xds.ns.svc.cluster.local"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.ns.svc"}); err == nil {
		t.Error("valid for a name it was not issued for")
	}
	other, err := NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: otherRoots, DNSName: "agentgateway-xds.ns.svc"}); err == nil {
		t.Error("verified against another CA")
	}
	if c.Leaf.NotAfter.After(ca.Cert.NotAfter) {
		t.Error("outlives its CA")
	}
}

// TestServingRenews: Run replaces the certificate before it expires, and GetCertificate
// serves the new one.
func TestServingRenews(t *testing.T) {
	ca, err := NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	renewed := make(chan *tls.Certificate, 10)
	// X.509 stores times in whole seconds, so a certificate may end up to a second earlier
	// than asked: the lifetime must be well over a second for the renewed one to be valid.
	s := &Serving{CA: ca, Hosts: []string{"127.0.0.1"}, Lifetime: 3 * time.Second, Renewed: func(c *tls.Certificate) { renewed <- c }}
	if _, err := s.GetCertificate(nil); err == nil {
		t.Fatal("a certificate before the first issue")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case c := <-renewed:
		got, err := s.GetCertificate(nil)
		if err != nil || !bytes.Equal(got.Certificate[0], c.Certificate[0]) {
			t.Fatalf("GetCertificate after renewal: %v", err)
		}
		if time.Until(c.Leaf.NotAfter) < time.Second {
			t.Fatalf("renewed certificate expires in %s", time.Until(c.Leaf.NotAfter))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not renewed")
	}
}
