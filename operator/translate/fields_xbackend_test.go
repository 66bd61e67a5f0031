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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// The test of this file takes an HTTPRoute backendRef of kind XBackend (type
// ExternalHostname, gateway.networking.x-k8s.io/v1alpha1) from the API objects to the wire:
// the proxy dials spec.externalHostname.hostname ("localhost") at spec.port.number and
// verifies the backend with the CA of the ConfigMap that spec.tls.validation names.

// startMTLSBackend starts an HTTPS backend with leaf that answers its name and requires a
// client certificate signed by clients.
func startMTLSBackend(t *testing.T, name string, leaf *testcerts.Leaf, clients *testcerts.CA) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients.Pool()}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return serverPort(t, srv)
}

// xbackendTLS is XBackend name reaching localhost:port over TLS validated by ConfigMap ca,
// with client certificate Secret client when mtls is set.
func xbackendTLS(name, port string, mtls bool) string {
	mode, cert := "ServerOnly", ""
	if mtls {
		mode, cert = "ClientAndServer", "\n      clientCertificateRef: {name: client}"
	}
	return fmt.Sprintf(`- metadata: {name: %s, namespace: default}
  spec:
    type: ExternalHostname
    externalHostname: {hostname: localhost}
    port: {number: %s}
    protocol: HTTP
    tls:
      mode: %s%s
      validation:
        hostname: localhost
        caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]
`, name, port, mode, cert)
}

// TestFieldsXBackendExternalHostnameTLS: XBackends of type ExternalHostname reach a
// loopback HTTPS backend through "localhost" when its certificate is signed by the
// ConfigMap's CA (200), are refused by one signed by another CA (502), present the
// ClientAndServer client certificate to a backend that requires one (200; the same backend
// refuses the ServerOnly XBackend: 502), and a backendRef that sets a port is refused
// (500, ResolvedRefs=False).
func TestFieldsXBackendExternalHostnameTLS(t *testing.T) {
	trusted, other, clients := testcerts.NewCA("xbackend-ca"), testcerts.NewCA("other-ca"), testcerts.NewCA("client-ca")
	goodPort := startTLSBackend(t, "good", trusted.Issue("localhost"))
	badPort := startTLSBackend(t, "bad", other.Issue("localhost"))
	mtlsPort := startMTLSBackend(t, "mutual", trusted.Issue("localhost"), clients)
	clientLeaf := clients.Issue("gateway")
	ref := func(name string) string {
		return "[{group: gateway.networking.x-k8s.io, kind: XBackend, name: " + name + "}]"
	}
	doc := gatewayBase + `
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /good}}]
      backendRefs: ` + ref("good") + `
    - matches: [{path: {value: /bad}}]
      backendRefs: ` + ref("bad") + `
    - matches: [{path: {value: /mutual}}]
      backendRefs: ` + ref("mutual") + `
    - matches: [{path: {value: /no-client-cert}}]
      backendRefs: ` + ref("no-client-cert") + `
    - matches: [{path: {value: /port}}]
      backendRefs: [{group: gateway.networking.x-k8s.io, kind: XBackend, name: good, port: 443}]
xBackends:
` + xbackendTLS("good", goodPort, false) + xbackendTLS("bad", badPort, false) +
		xbackendTLS("mutual", mtlsPort, true) + xbackendTLS("no-client-cert", mtlsPort, false) + `
configMaps:
- metadata: {name: ca, namespace: default}
  data: {ca.crt: ` + fmt.Sprintf("%q", trusted.CertPEM) + `}
`
	secret := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte(clientLeaf.CertPEM), corev1.TLSPrivateKeyKey: []byte(clientLeaf.KeyPEM)},
	}
	s := serve(t, doc, nil, secret)

	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/good", "good", http.StatusOK},
		{"/bad", "", http.StatusBadGateway},
		{"/mutual", "mutual", http.StatusOK},
		{"/no-client-cert", "", http.StatusBadGateway},
		{"/port", "", http.StatusInternalServerError},
	} {
		r := send(t, client, "GET", s.url(80, c.path))
		if r.code != c.code || (c.body != "" && r.body != c.body) {
			t.Errorf("%s: %d %q; want %d %q", c.path, r.code, r.body, c.code, c.body)
		}
	}
	var msg string
	for _, rt := range s.res.Routes {
		for _, p := range rt.Parents {
			for _, c := range p.Conditions {
				if c.Type == "ResolvedRefs" && c.Status == metav1.ConditionFalse {
					msg = c.Message
				}
			}
		}
	}
	if !strings.Contains(msg, "must not set port") {
		t.Errorf("route ResolvedRefs message %q; want the refused backendRef port", msg)
	}
}

// TestFieldsXBackendEndpointSelectorSession: an XBackend of type EndpointSelector reaches
// the loopback backends of the ready Pods it selects (three Pod IPs on one port), and its
// sessionPersistence pins a client to one of them: the cookie carries its name and Path,
// has no Max-Age (a Session cookie) and keeps 20 requests on the endpoint that served the
// first; the Header type does the same with its header.
func TestFieldsXBackendEndpointSelectorSession(t *testing.T) {
	_, port := startEcho(t, "pod-a", "127.0.0.2:0")
	startEcho(t, "pod-b", "127.0.0.3:"+port)
	startEcho(t, "pod-c", "127.0.0.4:"+port)
	pod := func(name, ip string) string {
		return fmt.Sprintf(`- metadata: {name: %s, namespace: default, labels: {app: api}}
  status: {podIPs: [{ip: %s}], conditions: [{type: Ready, status: "True"}]}
`, name, ip)
	}
	selector := func(name, session string) string {
		return fmt.Sprintf(`- metadata: {name: %s, namespace: default}
  spec:
    type: EndpointSelector
    port: {number: %s}
    endpointSelector: {matchLabels: {app: api}}
    sessionPersistence: %s
`, name, port, session)
	}
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /api}}]
      backendRefs: [{group: gateway.networking.x-k8s.io, kind: XBackend, name: cookie}]
    - matches: [{path: {value: /header}}]
      backendRefs: [{group: gateway.networking.x-k8s.io, kind: XBackend, name: header}]
xBackends:
`+selector("cookie", "{type: Cookie, absoluteTimeout: 1h, cookie: {name: api-session, path: /api, lifetimeType: Session}}")+
		selector("header", "{type: Header, header: {name: x-api-session}}")+`
pods:
`+pod("pod-a", "127.0.0.2")+pod("pod-b", "127.0.0.3")+pod("pod-c", "127.0.0.4"), nil)

	first := send(t, client, "GET", s.url(80, "/api/x"))
	ck := first.header.Get("Set-Cookie")
	if first.code != 200 || !strings.HasPrefix(ck, "api-session=") || !strings.Contains(ck, "Path=/api") || strings.Contains(ck, "Max-Age") {
		t.Fatalf("first /api request: %d from %q, Set-Cookie %q; want 200 and a Session cookie api-session with Path=/api", first.code, first.echo.Backend, ck)
	}
	cookie := strings.SplitN(ck, ";", 2)[0]
	for i := range 20 {
		r := send(t, client, "GET", s.url(80, "/api/x"), "Cookie", cookie)
		if r.code != 200 || r.echo.Backend != first.echo.Backend {
			t.Fatalf("request %d with the session cookie: %d from %q; the session is on %q", i, r.code, r.echo.Backend, first.echo.Backend)
		}
	}
	// Without the cookie, requests spread over the three Pods.
	seen := map[string]bool{}
	for range 60 {
		seen[send(t, client, "GET", s.url(80, "/api/x")).echo.Backend] = true
	}
	if len(seen) != 3 {
		t.Errorf("requests without a session reached %v; want the three selected Pods", seen)
	}

	h := send(t, client, "GET", s.url(80, "/header"))
	tok := h.header.Get("X-Api-Session")
	if h.code != 200 || tok == "" || h.header.Get("Set-Cookie") != "" {
		t.Fatalf("type Header: %d, x-api-session %q, Set-Cookie %q", h.code, tok, h.header.Get("Set-Cookie"))
	}
	for i := range 20 {
		if r := send(t, client, "GET", s.url(80, "/header"), "X-Api-Session", tok); r.echo.Backend != h.echo.Backend {
			t.Fatalf("request %d with the session header went to %q, the session is on %q", i, r.echo.Backend, h.echo.Backend)
		}
	}
}
