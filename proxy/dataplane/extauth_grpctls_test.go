package dataplane

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// TestExtAuthGRPCOverTLS runs the proxy in front of an ext_authz gRPC
// server that serves TLS only: the backend's TLS settings (CA, SNI, SANs)
// apply to the gRPC connection, and a backend whose CA does not match
// the server's certificate fails the check (closed: 403).
func TestExtAuthGRPCOverTLS(t *testing.T) {
	ca := testcerts.NewCA("authz-ca")
	leaf := ca.Issue("authz.example.com", "127.0.0.1")
	authz := startAuthz(t, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12})))
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	auth := func(backend string) *config.TrafficPolicy {
		return &config.TrafficPolicy{ExtAuth: &config.ExtAuth{Backend: backend, Protocol: config.ExtAuthGRPC, Timeout: &config.Duration{Duration: 2 * time.Second}}}
	}
	tlsBackend := func(name string, tc *config.BackendTLS) config.Backend {
		b := be(name, authz.addr)
		b.Protocol = config.BackendH2
		b.TLS = tc
		return b
	}
	other := testcerts.NewCA("other-ca")
	cfg := &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/sni"), BackendRefs: to("a"), Traffic: auth("authz-sni")},
			config.HTTPRouteRule{Matches: pathPrefix("/ip"), BackendRefs: to("a"), Traffic: auth("authz-ip")},
			config.HTTPRouteRule{Matches: pathPrefix("/san"), BackendRefs: to("a"), Traffic: auth("authz-san")},
			config.HTTPRouteRule{Matches: pathPrefix("/wrong-ca"), BackendRefs: to("a"), Traffic: auth("authz-wrong")},
		)}})},
		Backends: []config.Backend{
			be("a", a.addr),
			tlsBackend("authz-sni", &config.BackendTLS{CACertificates: ca.CertPEM, SNI: "authz.example.com"}),
			tlsBackend("authz-ip", &config.BackendTLS{CACertificates: ca.CertPEM}),
			tlsBackend("authz-san", &config.BackendTLS{CACertificates: ca.CertPEM, SNI: "ignored.example.com", SubjectAltNames: []string{"authz.example.com"}}),
			tlsBackend("authz-wrong", &config.BackendTLS{CACertificates: other.CertPEM, SNI: "authz.example.com"}),
		},
	}
	mustApply(t, rt, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, path := range []string{"/sni", "/ip", "/san"} {
		if r := get(t, http.DefaultClient, base+path, "", "X-Case", "allow"); r.code != 200 || r.header.Get("X-Authz") != "yes" {
			t.Errorf("%s allow: %d %q %v", path, r.code, r.body, r.header)
		}
		if r := get(t, http.DefaultClient, base+path, "", "X-Case", "deny"); r.code != 401 || r.body != "go away" {
			t.Errorf("%s deny: %d %q", path, r.code, r.body)
		}
	}
	if r := get(t, http.DefaultClient, base+"/wrong-ca", "", "X-Case", "allow"); r.code != 403 {
		t.Errorf("untrusted authz certificate: %d %q, want 403 (fail closed)", r.code, r.body)
	}
	if authz.last("allow") == nil {
		t.Error("the TLS authz server saw no check")
	}
}
