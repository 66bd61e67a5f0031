package translate_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// The tests of this file take caCertificateRefs naming a certificates.k8s.io
// ClusterTrustBundle (Gateway API feature ClusterTrustBundle, GEP-5075) from the API objects
// to the wire: the bundle is the only place the trusted CA is given, and real TLS
// handshakes show that it is the one the proxy verifies peers with.

// trustBundle is ClusterTrustBundle name holding the PEM of ca.
func trustBundle(name string, ca *testcerts.CA) string {
	return fmt.Sprintf("- metadata: {name: %q, resourceVersion: \"1\"}\n  spec: {trustBundle: %q}\n", name, ca.CertPEM)
}

// startTLSBackend starts an HTTPS backend with leaf that answers its name.
func startTLSBackend(t *testing.T, name string, leaf *testcerts.Leaf) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	// The proxy refuses the untrusted backend's certificate on purpose: no handshake log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return serverPort(t, srv)
}

// TestFieldsClusterTrustBundleBackendTLS: a BackendTLSPolicy whose only CA is a
// ClusterTrustBundle reaches a backend whose certificate that CA signed over TLS, and the
// same policy refuses a backend whose certificate another CA signed (502). (A missing bundle
// fails closed: golden backends/backendtlspolicy-clustertrustbundle.)
func TestFieldsClusterTrustBundleBackendTLS(t *testing.T) {
	trusted, other := testcerts.NewCA("bundle-ca"), testcerts.NewCA("other-ca")
	goodPort := startTLSBackend(t, "good", trusted.Issue("backend.internal"))
	badPort := startTLSBackend(t, "bad", other.Issue("backend.internal"))
	doc := gatewayBase + `
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /good}}]
      backendRefs: [{name: good, port: 443}]
    - matches: [{path: {value: /bad}}]
      backendRefs: [{name: bad, port: 443}]
backendTLSPolicies:
- metadata: {name: good, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: good}]
    validation:
      caCertificateRefs: [{group: certificates.k8s.io, kind: ClusterTrustBundle, name: "example.com:internal:v1"}]
      hostname: backend.internal
- metadata: {name: bad, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: bad}]
    validation:
      caCertificateRefs: [{group: certificates.k8s.io, kind: ClusterTrustBundle, name: "example.com:internal:v1"}]
      hostname: backend.internal
clusterTrustBundles:
` + trustBundle("example.com:internal:v1", trusted) +
		joinServices(loopbackService("good", "https", 443, goodPort), loopbackService("bad", "https", 443, badPort))
	s := serve(t, doc, nil)

	if r := send(t, client, "GET", s.url(80, "/good")); r.code != 200 || r.body != "good" {
		t.Errorf("backend signed by the bundle's CA: %d %q; want 200 good", r.code, r.body)
	}
	if r := send(t, client, "GET", s.url(80, "/bad")); r.code != http.StatusBadGateway {
		t.Errorf("backend signed by another CA: %d %q; want 502", r.code, r.body)
	}
}

// joinServices merges loopbackService documents into one services: and one
// endpointSlices: list.
func joinServices(docs ...string) string {
	var svcs, slices []string
	for _, d := range docs {
		s, e, ok := strings.Cut(d, "endpointSlices:\n")
		if !ok {
			panic("loopbackService without endpointSlices")
		}
		svcs = append(svcs, strings.TrimPrefix(s, "services:\n"))
		slices = append(slices, e)
	}
	return "services:\n" + strings.Join(svcs, "") + "endpointSlices:\n" + strings.Join(slices, "")
}

// TestFieldsClusterTrustBundleClientCertificate: a Gateway listener whose frontend
// validation names only a ClusterTrustBundle accepts a client certificate that the bundle's
// CA signed and refuses one another CA signed, and a client without a certificate.
func TestFieldsClusterTrustBundleClientCertificate(t *testing.T) {
	serverCA := testcerts.NewCA("server-ca")
	trusted, other := testcerts.NewCA("client-bundle-ca"), testcerts.NewCA("other-client-ca")
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	doc := gatewayBase + httpsListener + `
    tls:
      frontend:
        default:
          validation:
            caCertificateRefs: [{group: certificates.k8s.io, kind: ClusterTrustBundle, name: clients}]
` + echoRoute + `
clusterTrustBundles:
` + trustBundle("clients", trusted)
	s := serve(t, doc, map[string]string{"port": echoPort}, tlsSecret(serverCA.Issue("www.example.com")))
	addr := fmt.Sprintf("127.0.0.1:%d", s.ports[443])

	get := func(cert *testcerts.Leaf) (int, error) {
		cfg := &tls.Config{RootCAs: serverCA.Pool(), ServerName: "www.example.com"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{cert.TLS}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	if code, err := get(trusted.Issue("client.example.com")); err != nil || code != 200 {
		t.Errorf("client certificate signed by the bundle's CA: %d, %v; want 200", code, err)
	}
	if code, err := get(other.Issue("client.example.com")); err == nil {
		t.Errorf("client certificate signed by another CA: answered %d; want the handshake refused", code)
	}
	if code, err := get(nil); err == nil {
		t.Errorf("no client certificate: answered %d; want the handshake refused", code)
	}
}
