package localcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
)

const accessLogNS = "accesslog"

// TestAccessLogEndToEnd: a request through a Gateway produces exactly one JSON access-log line
// in its proxy pod's log (kubectl logs), naming the Gateway, listener, route and rule; then an
// AgentgatewayPolicy's frontend.accessLog filter drops the lines it rejects and its attributes
// appear in the lines it keeps.
func TestAccessLogEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	k := kctl{kubeconfig: c.Kubeconfig}
	installAgentgateway(t, k)
	freshNamespace(t, k, accessLogNS)
	backendPort := serveOnBridge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "path %s\n", r.URL.Path)
	}), nil)
	k.applyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: %[1]s}
spec:
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-host
  namespace: %[1]s
  labels: {kubernetes.io/service-name: backend, endpointslice.kubernetes.io/managed-by: accesslog-e2e}
addressType: IPv4
ports: [{name: http, port: %[2]d, protocol: TCP}]
endpoints: [{addresses: [%[3]s], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: logs, namespace: %[1]s}
spec:
  gatewayClassName: agentgateway
  listeners:
    - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo, namespace: %[1]s}
spec:
  parentRefs: [{name: logs}]
  hostnames: [logs.example.com]
  rules:
    - name: main
      backendRefs: [{name: backend, port: 8080}]
`, accessLogNS, backendPort, bridgeIP))
	k.must(t, "-n", accessLogNS, "wait", "--for=condition=Programmed", "gateway/logs", "--timeout=300s")
	addr := strings.TrimSpace(k.must(t, "-n", accessLogNS, "get", "gateway", "logs", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := clustertest.WaitRoutes(ctx, net.JoinHostPort(addr, "80")); err != nil {
		t.Fatal(err)
	}
	gw := newGWClient(addr)
	waitUntil(t, "the Gateway serves the route", 120*time.Second, time.Second, func() error {
		r, err := gw.do(req{host: "logs.example.com", path: "/ready"})
		if err != nil {
			return err
		}
		if r.code != http.StatusOK {
			return fmt.Errorf("got %s", r)
		}
		return nil
	})

	// On by default: one line for the request, with its route.
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	first := "/first/" + run
	gw.expect(t, http.StatusOK, req{host: "logs.example.com", path: first, header: map[string]string{
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
	line := waitAccessLines(t, k, accessLogNS, "logs", first, 1)[0]
	for key, want := range map[string]any{
		"kind": "http", "gateway": accessLogNS + "/logs", "listener": "http", "route": accessLogNS + "/echo", "rule": "main",
		"method": "GET", "authority": "logs.example.com", "status": 200.0, "backend": "present", "upstream": fmt.Sprintf("%s:%d", bridgeIP, backendPort),
		"bytes_sent": float64(len("path " + first + "\n")), "trace_id": "0af7651916cd43dd8448eb211c80319c",
		"duration_ms": "present", "upstream_ms": "present", "ttfb_ms": "present",
	} {
		if got, ok := line[key]; !ok || (want != "present" && got != want) {
			t.Errorf("%s = %v, want %v; line %v", key, got, want, line)
		}
	}

	// A policy: only /keep/ requests are logged, with two attributes.
	k.applyYAML(t, fmt.Sprintf(`apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: logs, namespace: %s}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: logs}]
  frontend:
    accessLog:
      filter: 'request.path.startsWith("/keep/")'
      attributes:
        - {name: agent, expression: 'request.headers["x-agent"]'}
        - {name: twice, expression: 'response.code * 2'}
`, accessLogNS))
	// Wait until the policy is live: a /keep/ request's line has the attributes.
	var kept map[string]any
	waitUntil(t, "lines carry the policy's attributes", 120*time.Second, time.Second, func() error {
		p := fmt.Sprintf("/keep/%d", time.Now().UnixNano())
		if _, err := gw.do(req{host: "logs.example.com", path: p, header: map[string]string{"x-agent": "e2e"}}); err != nil {
			return err
		}
		lines, err := accessLines(k, accessLogNS, "logs", p)
		if err != nil {
			return err
		}
		if len(lines) != 1 {
			return fmt.Errorf("%d lines for %s", len(lines), p)
		}
		if _, ok := lines[0]["attributes"]; !ok {
			return fmt.Errorf("no attributes yet: %v", lines[0])
		}
		kept = lines[0]
		return nil
	})
	attrs, _ := kept["attributes"].(map[string]any)
	if attrs["agent"] != "e2e" || attrs["twice"] != 400.0 || kept["route"] != accessLogNS+"/echo" {
		t.Errorf("kept line %v", kept)
	}
	// A request the filter rejects leaves no line, while the next accepted one does.
	dropped := "/drop/" + run
	gw.expect(t, http.StatusOK, req{host: "logs.example.com", path: dropped})
	after := "/keep/after-" + run
	gw.expect(t, http.StatusOK, req{host: "logs.example.com", path: after, header: map[string]string{"x-agent": "last"}})
	waitAccessLines(t, k, accessLogNS, "logs", after, 1)
	if lines, err := accessLines(k, accessLogNS, "logs", dropped); err != nil || len(lines) != 0 {
		t.Errorf("filtered request %s: lines %v, err %v", dropped, lines, err)
	}
}

// accessLines returns the access-log lines for path in the logs of Gateway ns/gateway's
// proxy pods.
func accessLines(k kctl, ns, gateway, path string) ([]map[string]any, error) {
	out, err := k.run("-n", ns, "logs", "-l", "gateway.networking.k8s.io/gateway-name="+gateway, "--tail=-1", "--prefix=false")
	if err != nil {
		return nil, fmt.Errorf("kubectl logs: %v: %s", err, out)
	}
	var lines []map[string]any
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["kind"] == nil {
			continue // the proxy's own log
		}
		if m["path"] == path {
			lines = append(lines, m)
		}
	}
	return lines, nil
}

// waitAccessLines waits until Gateway ns/gateway's proxies logged path, and checks they
// logged it n times.
func waitAccessLines(t *testing.T, k kctl, ns, gateway, path string, n int) []map[string]any {
	t.Helper()
	var lines []map[string]any
	waitUntil(t, "access-log line for "+path, 60*time.Second, 500*time.Millisecond, func() error {
		var err error
		if lines, err = accessLines(k, ns, gateway, path); err != nil {
			return err
		}
		if len(lines) == 0 {
			return fmt.Errorf("no line for %s yet", path)
		}
		return nil
	})
	if len(lines) != n {
		t.Fatalf("%d lines for %s, want %d: %v", len(lines), path, n, lines)
	}
	return lines
}
