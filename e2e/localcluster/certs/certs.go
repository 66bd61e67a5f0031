// Package certs generates the PKI of the local cluster: a cluster CA, the apiserver serving
// certificate, client certificates and kubeconfigs, the service-account signing key pair, the
// front-proxy (requestheader) CA and client certificate that aggregated APIs need, and the
// kubelet serving certificate of the node agent.
//
// Keys are ECDSA P-256: generating them takes milliseconds, so the whole PKI is regenerated on
// every `up` instead of being cached, and a stale or half-written PKI can never survive a crash.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// validity is long enough for any test run and short enough that a leaked key does not matter.
const validity = 30 * 24 * time.Hour

// Options says which names and addresses the certificates must carry.
type Options struct {
	// APIServerIPs are the addresses clients use for the apiserver: the bridge address it binds
	// and the first address of the service CIDR (the `kubernetes` Service ClusterIP).
	APIServerIPs []net.IP
	// NodeName and NodeIP name the node agent's kubelet serving certificate.
	NodeName string
	NodeIP   net.IP
	// ServerURL is the apiserver URL written into kubeconfigs.
	ServerURL string
	// ClusterDomain is the DNS suffix of Services (cluster.local).
	ClusterDomain string
}

// Paths are the files Generate writes, relative to nothing: absolute paths under the PKI dir.
type Paths struct {
	Dir                                 string
	CACert, CAKey                       string
	APIServerCert, APIServerKey         string
	AdminCert, AdminKey                 string
	KubeletClientCert, KubeletClientKey string // apiserver -> kubelet (logs, exec)
	SAKey, SAPub                        string
	FrontProxyCACert, FrontProxyCAKey   string
	FrontProxyClientCert                string
	FrontProxyClientKey                 string
	KubeletCert, KubeletKey             string // node agent's serving certificate
	AdminKubeconfig                     string
}

// PathsIn returns where Generate writes into dir.
func PathsIn(dir string) Paths {
	p := func(n string) string { return filepath.Join(dir, n) }
	return Paths{
		Dir:    dir,
		CACert: p("ca.crt"), CAKey: p("ca.key"),
		APIServerCert: p("apiserver.crt"), APIServerKey: p("apiserver.key"),
		AdminCert: p("admin.crt"), AdminKey: p("admin.key"),
		KubeletClientCert: p("apiserver-kubelet-client.crt"), KubeletClientKey: p("apiserver-kubelet-client.key"),
		SAKey: p("sa.key"), SAPub: p("sa.pub"),
		FrontProxyCACert: p("front-proxy-ca.crt"), FrontProxyCAKey: p("front-proxy-ca.key"),
		FrontProxyClientCert: p("front-proxy-client.crt"), FrontProxyClientKey: p("front-proxy-client.key"),
		KubeletCert: p("kubelet.crt"), KubeletKey: p("kubelet.key"),
		AdminKubeconfig: p("admin.kubeconfig"),
	}
}

// Generate writes a fresh PKI and the admin kubeconfig into dir.
func Generate(dir string, o Options) (Paths, error) {
	ps := PathsIn(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ps, fmt.Errorf("create pki dir: %w", err)
	}
	ca, err := newCA("agentgateway-local-ca")
	if err != nil {
		return ps, err
	}
	fp, err := newCA("agentgateway-local-front-proxy-ca")
	if err != nil {
		return ps, err
	}
	if err := ca.write(ps.CACert, ps.CAKey); err != nil {
		return ps, err
	}
	if err := fp.write(ps.FrontProxyCACert, ps.FrontProxyCAKey); err != nil {
		return ps, err
	}

	dnsNames := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}
	if o.ClusterDomain != "" {
		dnsNames = append(dnsNames, "kubernetes.default.svc."+o.ClusterDomain)
	}
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1)}, o.APIServerIPs...)
	leaves := []struct {
		ca         *authority
		cert, key  string
		cn         string
		orgs       []string
		dns        []string
		ips        []net.IP
		serverAuth bool
	}{
		{ca, ps.APIServerCert, ps.APIServerKey, "kube-apiserver", nil, dnsNames, ips, true},
		{ca, ps.AdminCert, ps.AdminKey, "kubernetes-admin", []string{"system:masters"}, nil, nil, false},
		{ca, ps.KubeletClientCert, ps.KubeletClientKey, "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil, false},
		{fp, ps.FrontProxyClientCert, ps.FrontProxyClientKey, "front-proxy-client", nil, nil, nil, false},
		{ca, ps.KubeletCert, ps.KubeletKey, "system:node:" + o.NodeName, []string{"system:nodes"}, []string{o.NodeName}, []net.IP{o.NodeIP}, true},
	}
	for _, l := range leaves {
		if err := l.ca.issue(l.cert, l.key, l.cn, l.orgs, l.dns, l.ips, l.serverAuth); err != nil {
			return ps, fmt.Errorf("issue %s: %w", l.cn, err)
		}
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ps, fmt.Errorf("generate service-account key: %w", err)
	}
	if err := writeKey(ps.SAKey, saKey); err != nil {
		return ps, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return ps, fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := os.WriteFile(ps.SAPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return ps, fmt.Errorf("write service-account public key: %w", err)
	}
	if err := WriteKubeconfig(ps.AdminKubeconfig, o.ServerURL, ps.CACert, ps.AdminCert, ps.AdminKey); err != nil {
		return ps, err
	}
	return ps, nil
}

// WriteKubeconfig writes a kubeconfig with embedded credentials, so the file can be copied.
func WriteKubeconfig(path, server, caFile, certFile, keyFile string) error {
	read := func(f string) ([]byte, error) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s for kubeconfig: %w", f, err)
		}
		return b, nil
	}
	caPEM, err := read(caFile)
	if err != nil {
		return err
	}
	certPEM, err := read(certFile)
	if err != nil {
		return err
	}
	keyPEM, err := read(keyFile)
	if err != nil {
		return err
	}
	const name = "agentgateway-local"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA(cn string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

func (a *authority) write(certPath, keyPath string) error {
	if err := writeCert(certPath, a.cert.Raw); err != nil {
		return err
	}
	return writeKey(keyPath, a.key)
}

func (a *authority) issue(certPath, keyPath, cn string, orgs, dns []string, ips []net.IP, serverAuth bool) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if serverAuth {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return err
	}
	if err := writeCert(certPath, der); err != nil {
		return err
	}
	return writeKey(keyPath, key)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

func writeCert(path string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write certificate %s: %w", path, err)
	}
	return nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key for %s: %w", path, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}
