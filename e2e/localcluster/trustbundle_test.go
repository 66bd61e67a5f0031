package localcluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
)

const ctbNS = "ctb-e2e"

// TestClusterTrustBundleEndToEnd: on the local cluster, with the operator installed from
// manifests/ (its own RBAC), CA certificates given only through certificates.k8s.io/v1
// ClusterTrustBundles (Gateway API feature ClusterTrustBundle) verify a TLS backend of a
// BackendTLSPolicy (one signed by another CA answers 502) and the client certificates of a
// Gateway HTTPS listener (another CA's certificate is refused).
func TestClusterTrustBundleEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	k := kctl{c.Kubeconfig}
	installAgentgateway(t, k)
	for _, args := range [][]string{
		{"delete", "namespace", ctbNS, "--ignore-not-found", "--wait=true", "--timeout=120s"},
		{"delete", "clustertrustbundle", "ctb-e2e-backends", "ctb-e2e-clients", "--ignore-not-found"},
	} {
		k.must(t, args...)
	}
	t.Cleanup(func() {
		for _, args := range [][]string{
			{"delete", "namespace", ctbNS, "--wait=false"},
			{"delete", "clustertrustbundle", "ctb-e2e-backends", "ctb-e2e-clients", "--ignore-not-found"},
		} {
			if out, err := k.run(args...); err != nil {
				t.Errorf("%v: %v: %s", args, err, out)
			}
		}
	})

	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, args := range [][]string{
			{"-n", ctbNS, "get", "backendtlspolicy,gateway", "-o", "yaml"},
			{"get", "clustertrustbundle"},
			{"-n", "agentgateway-system", "logs", "deployment/agentgateway-operator", "--tail=80"},
		} {
			out, err := k.run(args...)
			t.Logf("kubectl %v (%v):\n%s", args, err, out)
		}
	})
	backendCA, rogueCA := newTestCA(t, "ctb-e2e backend CA"), newTestCA(t, "ctb-e2e rogue CA")
	serverCA, clientCA := newTestCA(t, "ctb-e2e server CA"), newTestCA(t, "ctb-e2e client CA")
	tlsBackend := func(ca *testCA, name string) int {
		certPEM, keyPEM := ca.issue(t, name, []string{"backend.ctb-e2e.test"}, false)
		pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			t.Fatal(err)
		}
		return serveOnBridge(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) }),
			&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	}
	ports := map[string]int{"good": tlsBackend(backendCA, "good"), "bad": tlsBackend(rogueCA, "bad")}
	gwCert, gwKey := serverCA.issue(t, "www.ctb-e2e.test", []string{"www.ctb-e2e.test"}, false)

	docs := []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ctbNS + "}\n",
		jsonDoc(t, map[string]any{"apiVersion": "certificates.k8s.io/v1", "kind": "ClusterTrustBundle", "metadata": map[string]string{"name": "ctb-e2e-backends"},
			"spec": map[string]string{"trustBundle": backendCA.pem}}),
		jsonDoc(t, map[string]any{"apiVersion": "certificates.k8s.io/v1", "kind": "ClusterTrustBundle", "metadata": map[string]string{"name": "ctb-e2e-clients"},
			"spec": map[string]string{"trustBundle": clientCA.pem}}),
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": map[string]string{"name": "gw-tls", "namespace": ctbNS},
			"stringData": map[string]string{"tls.crt": gwCert, "tls.key": gwKey}}),
		`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ctb, namespace: ` + ctbNS + `}
spec:
  gatewayClassName: agentgateway
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: gw-tls}]}}
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{group: certificates.k8s.io, kind: ClusterTrustBundle, name: ctb-e2e-clients}]
`,
		`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: ` + ctbNS + `}
spec:
  parentRefs: [{name: ctb}]
  rules:
  - matches: [{path: {value: /good}}]
    backendRefs: [{name: good, port: 443}]
  - matches: [{path: {value: /bad}}]
    backendRefs: [{name: bad, port: 443}]
`,
	}
	for _, name := range []string{"good", "bad"} {
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  ports: [{name: https, port: 443, protocol: TCP}]
`, name, ctbNS), fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-bridge, namespace: %[2]s, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: https, port: %[3]d, protocol: TCP}]
endpoints: [{addresses: [%[4]s], conditions: {ready: true}}]
`, name, ctbNS, ports[name], bridgeIP), fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  targetRefs: [{group: "", kind: Service, name: %[1]s}]
  validation:
    caCertificateRefs: [{group: certificates.k8s.io, kind: ClusterTrustBundle, name: ctb-e2e-backends}]
    hostname: backend.ctb-e2e.test
`, name, ctbNS))
	}
	k.applyYAML(t, strings.Join(docs, "---\n"))

	k.must(t, "-n", ctbNS, "wait", "--for=condition=Programmed", "gateway/ctb", "--timeout=600s")
	addr := strings.TrimSpace(k.must(t, "-n", ctbNS, "get", "gateway", "ctb", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	routeCtx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := clustertest.WaitRoutes(routeCtx, net.JoinHostPort(addr, "80")); err != nil {
		t.Fatal(err)
	}
	gw := newGWClient(net.JoinHostPort(addr, "80"))
	waitUntil(t, "the backend signed by the bundle's CA answers through the Gateway", 60*time.Second, time.Second, func() error {
		r, err := gw.do(req{path: "/good"})
		if err != nil {
			return err
		}
		if r.code != 200 || string(r.body) != "good" {
			return fmt.Errorf("got %s", r)
		}
		return nil
	})
	gw.expect(t, http.StatusBadGateway, req{path: "/bad"})

	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	httpsGet := func(ca *testCA) error {
		certPEM, keyPEM := ca.issue(t, "client", nil, true)
		pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
			RootCAs: roots, ServerName: "www.ctb-e2e.test", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12,
		}}
		resp, err := (&http.Client{Transport: tr, Timeout: 15 * time.Second}).Get("https://" + net.JoinHostPort(addr, "443") + "/good")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	waitUntil(t, "a client certificate of the bundle's CA is accepted", 60*time.Second, time.Second, func() error { return httpsGet(clientCA) })
	if err := httpsGet(rogueCA); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
}
