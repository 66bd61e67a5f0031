package translate

import (
	"strings"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// tracingSnapshot adds the collector Service to trafficCheckBase.
func tracingSnapshot(extra string) string {
	return strings.Replace(trafficCheckBase, "services:\n", "services:\n- metadata: {name: otel, namespace: default}\n  spec:\n    ports:\n    - {name: grpc, port: 4317, protocol: TCP}\n    - {name: http, port: 4318, protocol: TCP}\n", 1) + extra
}

func policyConds(res *Result, kind string) map[string]string {
	out := map[string]string{}
	for _, p := range res.Policies {
		if p.Key.Kind != kind {
			continue
		}
		for _, a := range p.Ancestors {
			for _, c := range a.Conditions {
				out[p.Key.Name+"/"+c.Type] = string(c.Status) + " " + c.Reason + ": " + c.Message
			}
		}
	}
	return out
}

// TestTracingTranslation: frontend.tracing reaches the Gateway's HTTP listener with its
// collector resolved to a backend of the config (HTTP/1.1 for protocol HTTP), sampling as
// ratios and the CEL fields as written.
func TestTracingTranslation(t *testing.T) {
	res := translateDoc(t, tracingSnapshot(`policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    frontend:
      tracing:
        provider: {backendRef: {name: otel, port: 4318}}
        protocol: HTTP
        samplingRate: {numerator: 25}
        parentBased: true
        parentSamplingRate: {numerator: 1, denominator: 2}
        condition: '!request.path.startsWith("/health")'
        serviceName: edge
        attributes:
        - {name: env, value: prod}
        - {name: tenant, header: x-tenant}
        - {name: path, expression: request.path}
`))
	gw := res.Gateways[0].Config
	tr := gw.Binds[0].Listeners[0].Tracing
	if tr == nil {
		t.Fatalf("listener has no tracing; policy: %v", policyConds(res, "AgentgatewayPolicy"))
	}
	if tr.Protocol != config.TracingHTTP || tr.Backend == "" || tr.ServiceName != "edge" || *tr.SamplingRate != 0.25 ||
		!*tr.ParentBased || *tr.ParentSamplingRate != 0.5 || tr.Condition != `!request.path.startsWith("/health")` || len(tr.Attributes) != 3 ||
		tr.Attributes[1].Header != "x-tenant" || tr.Attributes[2].Expression != "request.path" {
		t.Errorf("tracing = %+v", tr)
	}
	found := false
	for _, b := range gw.Backends {
		if b.Name == tr.Backend {
			found = true
			if b.Protocol == config.BackendH2C || b.Protocol == config.BackendTCP {
				t.Errorf("OTLP/HTTP collector backend protocol %q", b.Protocol)
			}
		}
	}
	if !found {
		t.Errorf("collector backend %q is not in the config", tr.Backend)
	}
	if err := gw.Validate(); err != nil {
		t.Errorf("proxy rejects the config: %v", err)
	}
	if acc := acceptedMessage(res); !strings.HasPrefix(acc, "True") {
		t.Errorf("policy Accepted = %q", acc)
	}

	// A collector that does not exist leaves the listener untraced and says so.
	res = translateDoc(t, tracingSnapshot(`policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    frontend:
      tracing:
        provider: {backendRef: {name: nope, port: 4317}}
`))
	if tr := res.Gateways[0].Config.Binds[0].Listeners[0].Tracing; tr != nil {
		t.Errorf("tracing with a missing collector: %+v", tr)
	}
	if c := policyConds(res, "AgentgatewayPolicy")["pol/ResolvedRefs"]; !strings.HasPrefix(c, "False") || !strings.Contains(c, "frontend.tracing.provider") {
		t.Errorf("ResolvedRefs = %q", c)
	}
}

// TestXTelemetryPolicyTranslation: an XTelemetryPolicy with mode Enabled traces the
// Gateway's HTTP listeners (port 4318: OTLP/HTTP), a younger one on the same Gateway is
// Conflicted, an attributeKey the proxy does not record is refused in status, and an
// AgentgatewayPolicy frontend.tracing wins over it.
func TestXTelemetryPolicyTranslation(t *testing.T) {
	const pol = `xTelemetryPolicies:
- metadata: {name: tel, namespace: default, generation: 2, creationTimestamp: "2026-01-01T00:00:00Z"}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    tracing:
      mode: Enabled
      provider:
        backendRef: {name: otel, port: 4318}
        headers: [{name: x-token, value: abc}]
      samplingRate: {numerator: 10, denominator: 100}
      parentBasedSampling: {mode: Disabled}
      serviceName: gw-edge
      spanName: ingress
      attributes:
      - {name: env, sourceType: Literal, literalValue: prod}
      - {name: ua, sourceType: Header, headerName: user-agent}
      - {name: method, sourceType: Attribute, attributeKey: http.request.method}
- metadata: {name: younger, namespace: default, generation: 1, creationTimestamp: "2026-02-01T00:00:00Z"}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    tracing: {mode: Disabled}
`
	res := translateDoc(t, tracingSnapshot(pol))
	gw := res.Gateways[0].Config
	tr := gw.Binds[0].Listeners[0].Tracing
	if tr == nil {
		t.Fatalf("listener has no tracing; status %v", policyConds(res, "XTelemetryPolicy"))
	}
	if tr.Protocol != config.TracingHTTP || tr.ServiceName != "gw-edge" || tr.SpanName != "ingress" || *tr.SamplingRate != 0.1 ||
		tr.ParentBased == nil || *tr.ParentBased || len(tr.Headers) != 1 || len(tr.Attributes) != 3 || tr.Attributes[2].Attribute != "http.request.method" {
		t.Errorf("tracing = %+v", tr)
	}
	if err := gw.Validate(); err != nil {
		t.Errorf("proxy rejects the config: %v", err)
	}
	conds := policyConds(res, "XTelemetryPolicy")
	if c := conds["tel/Accepted"]; !strings.HasPrefix(c, "True Accepted") {
		t.Errorf("tel Accepted = %q", c)
	}
	if c := conds["tel/ResolvedRefs"]; !strings.HasPrefix(c, "True ResolvedRefs") {
		t.Errorf("tel ResolvedRefs = %q", c)
	}
	if c := conds["younger/Accepted"]; !strings.HasPrefix(c, "False Conflicted") || !strings.Contains(c, "default/tel") {
		t.Errorf("younger Accepted = %q", c)
	}

	// An attribute the proxy does not record: refused, nothing applied.
	res = translateDoc(t, tracingSnapshot(strings.Replace(pol, "attributeKey: http.request.method", "attributeKey: http.request.body.size", 1)))
	if tr := res.Gateways[0].Config.Binds[0].Listeners[0].Tracing; tr != nil {
		t.Errorf("refused policy applied: %+v", tr)
	}
	if c := policyConds(res, "XTelemetryPolicy")["tel/Accepted"]; !strings.HasPrefix(c, "False Invalid") || !strings.Contains(c, "http.request.body.size") {
		t.Errorf("refused Accepted = %q", c)
	}

	// A missing collector: ResolvedRefs BackendNotFound.
	res = translateDoc(t, tracingSnapshot(strings.Replace(pol, "name: otel, port: 4318", "name: gone, port: 4317", 1)))
	if c := policyConds(res, "XTelemetryPolicy")["tel/ResolvedRefs"]; !strings.HasPrefix(c, "False BackendNotFound") {
		t.Errorf("missing collector ResolvedRefs = %q", c)
	}

	// frontend.tracing of an AgentgatewayPolicy wins on the listener.
	res = translateDoc(t, tracingSnapshot(pol+`policies:
- metadata: {name: pol, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    frontend:
      tracing:
        provider: {backendRef: {name: otel, port: 4317}}
`))
	if tr := res.Gateways[0].Config.Binds[0].Listeners[0].Tracing; tr == nil || tr.Protocol != config.TracingGRPC || tr.ServiceName != "" {
		t.Errorf("listener tracing = %+v, want the AgentgatewayPolicy's", tr)
	}
	if c := policyConds(res, "XTelemetryPolicy")["tel/Accepted"]; !strings.HasPrefix(c, "False Conflicted") || !strings.Contains(c, "AgentgatewayPolicy") {
		t.Errorf("overridden Accepted = %q", c)
	}
}
