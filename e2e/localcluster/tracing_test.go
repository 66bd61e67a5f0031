package localcluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
	"github.com/agentgateway/agentgateway-go/proxy/tracing/otlptest"
)

const tracingNS = "tracing"

// TestTracingEndToEnd follows one request through a Gateway in the three day-2 signals. A
// Gateway API XTelemetryPolicy makes the Gateway's proxy pod export spans over OTLP/gRPC to
// a real OTLP receiver (on the cluster bridge, reached through a Service); the request, with
// a sampled traceparent, gives the proxy's server span under the client's span, an
// upstream-attempt span under it, and the backend's own span (exported to the same
// receiver) under that attempt. The same request has one access-log line in kubectl logs
// carrying its trace id, and the documented request counter of its route grew on the pod's
// metrics port. The policy's status says Accepted on the Gateway.
func TestTracingEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	k := kctl{kubeconfig: c.Kubeconfig}
	installAgentgateway(t, k)
	freshNamespace(t, k, tracingNS)

	recv := otlptest.StartOn(t, bridgeIP)
	_, recvPort, err := net.SplitHostPort(recv.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	backendPort := serveOnBridge(t, tracedBackendHandler(t, recv), nil)

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
  labels: {kubernetes.io/service-name: backend, endpointslice.kubernetes.io/managed-by: tracing-e2e}
addressType: IPv4
ports: [{name: http, port: %[2]d, protocol: TCP}]
endpoints: [{addresses: [%[3]s], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: otel-collector, namespace: %[1]s}
spec:
  ports: [{name: otlp-grpc, port: 4317, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: otel-collector-host
  namespace: %[1]s
  labels: {kubernetes.io/service-name: otel-collector, endpointslice.kubernetes.io/managed-by: tracing-e2e}
addressType: IPv4
ports: [{name: otlp-grpc, port: %[4]s, protocol: TCP}]
endpoints: [{addresses: [%[3]s], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: traced, namespace: %[1]s}
spec:
  gatewayClassName: agentgateway
  listeners:
    - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo, namespace: %[1]s}
spec:
  parentRefs: [{name: traced}]
  hostnames: [traced.example.com]
  rules:
    - backendRefs: [{name: backend, port: 8080}]
---
apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XTelemetryPolicy
metadata: {name: traces, namespace: %[1]s}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: traced}]
  tracing:
    mode: Enabled
    provider: {backendRef: {name: otel-collector, port: 4317}}
    samplingRate: {numerator: 100, denominator: 100}
`, tracingNS, backendPort, bridgeIP, recvPort))
	k.must(t, "-n", tracingNS, "wait", "--for=condition=Programmed", "gateway/traced", "--timeout=300s")
	addr := strings.TrimSpace(k.must(t, "-n", tracingNS, "get", "gateway", "traced", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := clustertest.WaitRoutes(ctx, net.JoinHostPort(addr, "80")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "XTelemetryPolicy Accepted on the Gateway", 120*time.Second, time.Second, func() error {
		out, err := k.run("-n", tracingNS, "get", "xtelemetrypolicy", "traces", "-o",
			`jsonpath={range .status.ancestors[*]}{.ancestorRef.name}={.conditions[?(@.type=="Accepted")].status}{"\n"}{end}`)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.TrimSpace(out) != "traced=True" {
			return fmt.Errorf("ancestors: %q", out)
		}
		return nil
	})

	requests := func() float64 {
		var sum float64
		waitUntil(t, "scrape the proxy", 60*time.Second, time.Second, func() error {
			v, err := scrapeSum(k, tracingNS, "traced", "agentgateway_requests_total", []string{`gateway="traced"`, `route="tracing/echo"`, `code="200"`})
			sum = v
			return err
		})
		return sum
	}
	before := requests()

	// Send sampled requests (a new trace each) until the proxy's spans of one arrive: the
	// policy reaches the proxy after the route may already be served.
	gw := newGWClient(addr)
	sent := 0
	var trace, clientSpan string
	sentTraces := map[string]string{} // trace id -> the client span id sent with it
	waitUntil(t, "the proxy exports a request's server span", 120*time.Second, time.Second, func() error {
		for _, s := range recv.Spans() {
			if s.Service == "agentgateway" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.ParentSpanID != "" {
				if sent, ok := sentTraces[s.TraceID]; ok {
					trace, clientSpan = s.TraceID, sent
					return nil
				}
			}
		}
		id, span := randomHex(t, 16), randomHex(t, 8)
		sentTraces[id] = span
		r, err := gw.do(req{host: "traced.example.com", path: "/traced/" + id, header: map[string]string{
			"traceparent": "00-" + id + "-" + span + "-01"}})
		if err != nil {
			return err
		}
		if r.code != http.StatusOK {
			return fmt.Errorf("got %s", r)
		}
		sent++
		return fmt.Errorf("no server span yet (%d spans received)", len(recv.Spans()))
	})

	spans := recv.WaitFor(t, 60*time.Second, "proxy server, attempt and backend spans of trace "+trace, func(all []otlptest.Span) bool {
		var srv, att, bk bool
		for _, s := range all {
			if s.TraceID != trace {
				continue
			}
			switch {
			case s.Service == "agentgateway" && s.Kind == tracepb.Span_SPAN_KIND_SERVER:
				srv = true
			case s.Service == "agentgateway" && s.Kind == tracepb.Span_SPAN_KIND_CLIENT:
				att = true
			case s.Service == "backend":
				bk = true
			}
		}
		return srv && att && bk
	})
	var srv, att, bk otlptest.Span
	for _, s := range spans {
		if s.TraceID != trace {
			continue
		}
		switch {
		case s.Service == "agentgateway" && s.Kind == tracepb.Span_SPAN_KIND_SERVER:
			srv = s
		case s.Service == "agentgateway" && s.Kind == tracepb.Span_SPAN_KIND_CLIENT:
			att = s
		case s.Service == "backend":
			bk = s
		}
	}
	if srv.ParentSpanID != clientSpan {
		t.Errorf("proxy server span's parent = %s, want the client's span %s\n%s", srv.ParentSpanID, clientSpan, otlptest.Describe(spans))
	}
	if att.ParentSpanID != srv.SpanID {
		t.Errorf("attempt span's parent = %s, want the server span %s\n%s", att.ParentSpanID, srv.SpanID, otlptest.Describe(spans))
	}
	if bk.ParentSpanID != att.SpanID {
		t.Errorf("backend span's parent = %s, want the attempt span %s\n%s", bk.ParentSpanID, att.SpanID, otlptest.Describe(spans))
	}

	// The access log: exactly one line for the request, with its route and trace id.
	path := "/traced/" + trace
	line := waitAccessLines(t, k, tracingNS, "traced", path, 1)[0]
	if line["trace_id"] != trace || line["route"] != tracingNS+"/echo" || line["status"] != 200.0 {
		t.Errorf("access log of %s: %v", path, line)
	}

	// The metrics: the route's request counter grew by at least the 200s sent.
	waitUntil(t, "agentgateway_requests_total of the route grows", 30*time.Second, 200*time.Millisecond, func() error {
		if d := requests() - before; d < float64(sent) {
			return fmt.Errorf("grew by %v, want at least %d", d, sent)
		}
		return nil
	})
}

// scrapeSum sums, over the Running proxy pods of a Gateway (scraped on their metrics port at
// the pod IP, as a PodMonitor does), the samples of metric name that carry every label of
// want.
func scrapeSum(k kctl, ns, gateway, name string, want []string) (float64, error) {
	out, err := k.run("-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=agentgateway-proxy,gateway.networking.k8s.io/gateway-name="+gateway,
		"--field-selector=status.phase=Running", "-o", `jsonpath={range .items[*]}{.status.podIP}{" "}{end}`)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	ips := strings.Fields(out)
	if len(ips) == 0 {
		return 0, fmt.Errorf("no running proxy pod")
	}
	var sum float64
	for _, ip := range ips {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + net.JoinHostPort(ip, "15020") + "/metrics")
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := sampleOf(line, name, want); ok {
				sum += v
			}
		}
	}
	return sum, nil
}

// tracedBackendHandler answers 200 and, for a sampled traceparent, exports its own server
// span (service "backend") under the span that traceparent names.
func tracedBackendHandler(t *testing.T, recv *otlptest.Receiver) http.Handler {
	t.Helper()
	s, err := tracing.NewGRPCSender(tracing.GRPCOptions{Address: recv.GRPCAddr})
	if err != nil {
		t.Fatal(err)
	}
	exp := tracing.NewExporter(s, "backend", tracing.ExporterOptions{Interval: 10 * time.Millisecond}, nil)
	t.Cleanup(func() {
		if err := exp.Close(); err != nil {
			t.Error(err)
		}
	})
	tr := tracing.NewTracer(exp, tracing.Sampler{Ratio: 0, ParentBased: true, ParentRatio: 1}, "backend", nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if parent, ok := tracing.ParseTraceparent(r.Header.Get("traceparent")); ok {
			if c, ok := tr.Decide(parent); ok {
				sp := tr.StartServer(c, parent.SpanID, "backend "+r.URL.Path)
				defer sp.Finish()
			}
		}
		if _, err := io.WriteString(w, "ok\n"); err != nil {
			t.Errorf("backend write: %v", err)
		}
	})
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
