package certs

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	ps, err := Generate(dir, Options{
		APIServerIPs: []net.IP{net.ParseIP("10.244.0.1"), net.ParseIP("10.96.0.1")},
		NodeName:     "n", NodeIP: net.ParseIP("10.244.0.1"),
		ServerURL: "https://10.244.0.1:6443", ClusterDomain: "cluster.local",
	})
	if err != nil {
		t.Fatal(err)
	}
	ca := load(t, ps.CACert)
	api := load(t, ps.APIServerCert)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, host := range []string{"10.96.0.1", "10.244.0.1", "127.0.0.1", "kubernetes.default.svc.cluster.local"} {
		if _, err := api.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("apiserver cert for %s: %v", host, err)
		}
	}
	fp := load(t, ps.FrontProxyClientCert)
	if fp.Subject.CommonName != "front-proxy-client" {
		t.Errorf("front proxy CN %q", fp.Subject.CommonName)
	}
	if _, err := fp.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("front-proxy client verifies against the cluster CA; it must have its own CA")
	}
	cfg, err := clientcmd.LoadFromFile(ps.AdminKubeconfig)
	if err != nil || cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server != "https://10.244.0.1:6443" {
		t.Fatalf("kubeconfig: %v", err)
	}
}

func load(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
