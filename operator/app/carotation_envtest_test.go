package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// TestConfigStreamCARotation rotates the config stream's CA of a running operator (an
// administrator deletes the CA Secret): the next CA is published beside the current one in
// the proxy's <proxy>-xds-ca ConfigMap, signs the config server's certificate only after
// the propagation delay, and the replaced CA stays in the bundle. The proxy's stream opened
// under the first CA stays up, its Deployment is not rolled, and a proxy dialling with the
// published bundle connects.
func TestConfigStreamCARotation(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.Start(t, filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "gateway-api"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const propagation = 4 * time.Second
	xdsAddr := startOperator(t, ctx, cancel, env, func(c *Config) { c.XDSCAPropagation = propagation })
	c := newClient(t, env)
	const ns = "apps"
	createWebGateway(t, ctx, c, ns)

	var started, ended atomic.Int32
	proxy := func(pod, caFile string) (*atomic.Int32, <-chan error) {
		n := &atomic.Int32{}
		done := make(chan error, 1)
		pc := &configstream.Client{
			Address: xdsAddr, CAFile: caFile,
			Node:  configstream.Node{Pod: pod, Namespace: ns, Gateway: "web", BuildVersion: "test"},
			Token: func() (string, error) { return "token-for-web", nil },
		}
		if pod == "web-first" {
			pc.StreamStarted = func() { started.Add(1) }
			pc.StreamEnded = func(error) { ended.Add(1) }
		}
		go func() {
			done <- pc.Run(ctx, func(*config.Config) error { n.Add(1); return nil })
		}()
		return n, done
	}
	firstFile := proxyCAFile(t, ctx, c, ns)
	first, firstDone := proxy("web-first", firstFile)
	waitFor(t, "the first proxy's config", func() (bool, string) { return first.Load() > 0, "none yet" })

	secKey := types.NamespacedName{Namespace: "agentgateway-system", Name: configserver.CASecretName}
	cmKey := types.NamespacedName{Namespace: ns, Name: deployer.XDSCAName("web")}
	depKey := types.NamespacedName{Namespace: ns, Name: deployer.ProxyName("web")}
	var sec corev1.Secret
	must(t, c.Get(ctx, secKey, &sec))
	ca1 := sec.Data[configserver.CACertKey]
	var dep appsv1.Deployment
	must(t, c.Get(ctx, depKey, &dep))
	depRV := dep.ResourceVersion

	must(t, c.Delete(ctx, &sec))
	var ca2 []byte
	waitFor(t, "the next CA in the Secret and beside the current one in the proxy ConfigMap", func() (bool, string) {
		var s corev1.Secret
		var cm corev1.ConfigMap
		if err := c.Get(ctx, secKey, &s); err != nil {
			return false, err.Error()
		}
		if err := c.Get(ctx, cmKey, &cm); err != nil {
			return false, err.Error()
		}
		next := s.Data[configserver.CANextCertKey]
		if len(next) == 0 {
			if bytes.Equal(s.Data[configserver.CACertKey], ca1) {
				return false, "no next CA yet"
			}
			// Promoted already: the bundle kept the replaced CA and the new one.
			next = s.Data[configserver.CACertKey]
		}
		ca2 = next
		return cm.Data[deployer.XDSCAKey] == string(ca1)+string(next) || cm.Data[deployer.XDSCAKey] == string(next)+string(ca1),
			fmt.Sprintf("ConfigMap bundle has %d certificates", len(streamcert.ParseCertificates([]byte(cm.Data[deployer.XDSCAKey]))))
	})
	if bytes.Equal(ca1, ca2) {
		t.Fatal("the next CA is the first one")
	}
	waitFor(t, "the next CA signing the config server's certificate", func() (bool, string) {
		if err := dialWith(xdsAddr, ca2); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if err := dialWith(xdsAddr, ca1); err == nil {
		t.Fatal("the config server still serves a certificate of the replaced CA")
	}
	must(t, c.Get(ctx, secKey, &sec))
	if !bytes.Equal(sec.Data[configserver.CACertKey], ca2) || !bytes.Equal(sec.Data[configserver.CAPreviousKey], ca1) || len(sec.Data[configserver.CANextCertKey]) != 0 {
		t.Fatalf("Secret after the rotation: signing is the next CA %v, previous is the first %v",
			bytes.Equal(sec.Data[configserver.CACertKey], ca2), bytes.Equal(sec.Data[configserver.CAPreviousKey], ca1))
	}
	var cm corev1.ConfigMap
	must(t, c.Get(ctx, cmKey, &cm))
	if cm.Data[deployer.XDSCAKey] != string(ca2)+string(ca1) {
		t.Fatalf("proxy bundle after the rotation has %d certificates, want the signing CA then the replaced one", len(streamcert.ParseCertificates([]byte(cm.Data[deployer.XDSCAKey]))))
	}

	// A proxy starting now, with the published bundle, connects.
	bundleFile := filepath.Join(t.TempDir(), "bundle.crt")
	must(t, os.WriteFile(bundleFile, []byte(cm.Data[deployer.XDSCAKey]), 0o600))
	second, secondDone := proxy("web-second", bundleFile)
	waitFor(t, "a new proxy's config with the bundle", func() (bool, string) { return second.Load() > 0, "none yet" })

	if s, e := started.Load(), ended.Load(); s != 1 || e != 0 {
		t.Fatalf("the first proxy's stream started %d times and ended %d times across the rotation, want once and never", s, e)
	}
	must(t, c.Get(ctx, depKey, &dep))
	if dep.ResourceVersion != depRV {
		t.Error("the proxy Deployment was rewritten by the CA rotation (its pods would roll)")
	}
	cancel()
	for _, done := range []<-chan error{firstDone, secondDone} {
		if err := <-done; err != nil {
			t.Errorf("proxy client: %v", err)
		}
	}
}

// dialWith completes a TLS handshake with the config server at addr trusting only caPEM.
func dialWith(addr string, caPEM []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: host, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13})
	if err != nil {
		return err
	}
	return conn.Close()
}
