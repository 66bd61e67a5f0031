package translate_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// TestFieldsBackendTLSDefaultSNI: backend.tls without sni sends the Service's hostname
// (<name>.<namespace>.svc) and verifies the certificate against it, although the proxy
// connects to the endpoint's IP.
func TestFieldsBackendTLSDefaultSNI(t *testing.T) {
	ca := testcerts.NewCA("sni-ca")
	leaf := ca.Issue("secure.default.svc") // no IP SAN: verifying against the IP fails
	var sni atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		sni.Store(r.TLS.ServerName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := serverPort(t, srv)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - backendRefs: [{name: secure, port: 443}]
`+loopbackService("secure", "https", 443, "{{port}}")+`
configMaps:
- metadata: {name: ca, namespace: default}
  data:
    ca.crt: |
{{ca}}
policies:
- metadata: {name: tls, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: secure}]
    backend:
      tls: {caCertificateRefs: [{kind: ConfigMap, name: ca}]}
`, map[string]string{"port": port, "ca": indent(ca.CertPEM, "      ")})
	if r := send(t, client, "GET", s.url(80, "/")); r.code != 200 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	if got, _ := sni.Load().(string); got != "secure.default.svc" {
		t.Fatalf("SNI %q, want secure.default.svc", got)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// TestFieldsBackendHealthCheck: backend.healthCheck takes an endpoint that fails its checks
// out of rotation for every route, and backend.outlierDetection, circuitBreakers,
// connectRetries and tcp.keepalive are accepted as enforced.
func TestFieldsBackendHealthCheck(t *testing.T) {
	var sick atomic.Int64
	var healthy atomic.Bool
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			sick.Add(1)
		}
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(bad.Close)
	okPort := serverPort(t, ok)
	badPort := serverPort(t, bad)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {type: PathPrefix, value: /a}}]
      backendRefs: [{name: web, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /b}}]
      backendRefs: [{name: web, port: 80}]
`+loopbackService("web", "http", 80, "{{ok}}", "{{bad}}")+`
policies:
- metadata: {name: health, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: web}]
    backend:
      healthCheck:
        interval: 20ms
        unhealthyThreshold: 1
        http: {path: /healthz, expectedStatuses: [{start: 200}]}
      outlierDetection: {consecutiveGatewayErrors: 0, consecutiveLocalOriginFailures: 0}
      circuitBreakers: {maxRequests: 1000}
      connectRetries: 1
      tcp: {keepalive: {time: 30s}}
`, map[string]string{"ok": okPort, "bad": badPort})
	// The failing endpoint is found unhealthy within a few intervals; after that no
	// request reaches it, on either route.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := sick.Load()
		for _, p := range []string{"/a", "/b"} {
			for range 20 {
				send(t, client, "GET", s.url(80, p))
			}
		}
		if sick.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint failing its health checks still gets requests")
		}
	}
	before := sick.Load()
	for range 100 {
		if r := send(t, client, "GET", s.url(80, "/a")); r.code != 200 {
			t.Fatalf("status %d", r.code)
		}
	}
	if n := sick.Load() - before; n != 0 {
		t.Fatalf("unhealthy endpoint got %d requests", n)
	}
	healthy.Store(true)
	deadline = time.Now().Add(10 * time.Second)
	for sick.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("the endpoint passing its checks again gets no requests")
		}
		send(t, client, "GET", s.url(80, "/b"))
	}
}

// TestFieldsBackendCircuitBreakers: a request over backend.circuitBreakers.maxRequests is
// answered 503 with x-agentgateway-overflow through the proxy, without reaching the backend.
func TestFieldsBackendCircuitBreakers(t *testing.T) {
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		served.Add(1)
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before srv.Close, which waits for the handler
	port := serverPort(t, srv)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - backendRefs: [{name: web, port: 80}]
`+loopbackService("web", "http", 80, "{{port}}")+`
policies:
- metadata: {name: cb, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: web}]
    backend:
      circuitBreakers: {maxRequests: 1}
`, map[string]string{"port": port})
	first := make(chan reply, 1)
	go func() {
		resp, err := client.Get(s.url(80, "/"))
		if err != nil {
			first <- reply{code: -1, body: err.Error()}
			return
		}
		resp.Body.Close()
		first <- reply{code: resp.StatusCode}
	}()
	<-arrived
	r := send(t, client, "GET", s.url(80, "/"))
	if r.code != 503 || r.header.Get("X-Agentgateway-Overflow") != "requests" {
		t.Fatalf("over maxRequests: %d overflow=%q", r.code, r.header.Get("X-Agentgateway-Overflow"))
	}
	unblock()
	if f := <-first; f.code != 200 {
		t.Fatalf("admitted request: %d %s", f.code, f.body)
	}
	if n := served.Load(); n != 1 {
		t.Fatalf("backend served %d requests, want 1", n)
	}
}
