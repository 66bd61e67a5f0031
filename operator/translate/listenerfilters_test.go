package translate_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// TestListenerFilters takes a Gateway's listener filters (GEP-5224) to the wire, on an HTTP
// and an HTTPS listener: two ExternalAuth filters run in order before routing (the second
// service sees the identity header the first one set, and the route matches on the header
// the second one set), a denial is answered before routing, and the Host the first
// service answers with changes neither the route nor what the backend sees.
func TestListenerFilters(t *testing.T) {
	ca := testcerts.NewCA("listener-filters-ca")
	leaf := ca.Issue("www.example.com")
	_, adminPort := startEcho(t, "admin", "127.0.0.1:0")
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	var secondCalls atomic.Int64
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Token") {
		case "bad":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "denied by first")
			return
		case "good":
			w.Header().Set("X-User", "alice")
		}
		w.Header().Set("Host", "evil.example.com")
	}))
	defer first.Close()
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secondCalls.Add(1)
		if r.Header.Get("X-User") == "alice" {
			w.Header().Set("X-Role", "admin")
		}
	}))
	defer second.Close()
	filters := `
      filters:
        requests:
        - type: ExternalAuth
          externalAuth:
            protocol: HTTP
            backendRef: {group: agentgateway.dev, kind: AgentgatewayBackend, name: first}
            http: {allowedHeaders: [x-token], allowedResponseHeaders: [x-user, host]}
        - type: ExternalAuth
          externalAuth:
            protocol: HTTP
            backendRef: {group: agentgateway.dev, kind: AgentgatewayBackend, name: second}
            http: {allowedHeaders: [x-user], allowedResponseHeaders: [x-role]}
`
	s := serve(t, `
gatewayClasses:
- metadata: {name: agentgateway, generation: 1}
  spec: {controllerName: agentgateway.dev/agentgateway}
gateways:
- metadata: {name: gw, namespace: default, generation: 1}
  spec:
    gatewayClassName: agentgateway
    listeners:
    - name: http
      port: 80
      protocol: HTTP`+filters+`
    - name: https
      port: 443
      protocol: HTTPS
      tls: {certificateRefs: [{name: tls}]}`+filters+`
httpRoutes:
- metadata: {name: admin, namespace: default, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /app}, headers: [{name: x-role, value: admin}]}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: admin}]
- metadata: {name: web, namespace: default, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /app}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
- metadata: {name: evil, namespace: default, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
  spec:
    parentRefs: [{name: gw}]
    hostnames: [evil.example.com]
    rules:
    - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: admin}]
backends:
- metadata: {name: admin, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{admin}}}}
- metadata: {name: echo, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{echo}}}}
- metadata: {name: first, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{first}}}}
- metadata: {name: second, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{second}}}}
`, map[string]string{"admin": adminPort, "echo": echoPort, "first": serverPort(t, first), "second": serverPort(t, second)}, tlsSecret(leaf))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "www.example.com"}}
	defer tr.CloseIdleConnections()
	httpsClient := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, c := range []struct {
		name   string
		client *http.Client
		base   string
	}{
		{"HTTP", client, s.url(80, "")},
		{"HTTPS", httpsClient, fmt.Sprintf("https://127.0.0.1:%d", s.ports[443])},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, c.client, "GET", c.base+"/app/x", "X-Token", "good")
			if r.code != 200 || r.echo.Backend != "admin" || r.echo.Headers.Get("X-User") != "alice" || r.echo.Headers.Get("X-Role") != "admin" {
				t.Errorf("good token: %d %s", r.code, r.body)
			}
			r = send(t, c.client, "GET", c.base+"/app/x")
			if r.code != 200 || r.echo.Backend != "echo" || r.echo.Headers.Get("X-Role") != "" {
				t.Errorf("no token: %d %s", r.code, r.body)
			}
			before := secondCalls.Load()
			for _, path := range []string{"/app/x", "/nowhere"} {
				if r = send(t, c.client, "GET", c.base+path, "X-Token", "bad"); r.code != 403 || r.body != "denied by first" {
					t.Errorf("bad token %s: %d %q", path, r.code, r.body)
				}
			}
			if n := secondCalls.Load(); n != before {
				t.Errorf("the second filter ran after a denial: %d -> %d calls", before, n)
			}
			if r = send(t, c.client, "GET", c.base+"/nowhere", "X-Token", "good"); r.code != 404 {
				t.Errorf("allowed, no route: %d %s", r.code, r.body)
			}
		})
	}
}
