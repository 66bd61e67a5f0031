package validation_test

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/webhook/validation"
)

// enforcementBase is a Gateway with one route to one Service: frontend cases target the
// Gateway, backend cases the Service, traffic cases the route.
const enforcementBase = `
gatewayClasses:
- metadata: {name: agentgateway, generation: 1}
  spec: {controllerName: agentgateway.dev/agentgateway}
gateways:
- metadata: {name: gw, namespace: default, generation: 1}
  spec:
    gatewayClassName: agentgateway
    listeners:
    - {name: http, port: 80, protocol: HTTP}
services:
- metadata: {name: echo, namespace: default}
  spec:
    ports:
    - {name: http, port: 80, protocol: TCP}
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs:
    - {name: gw}
    rules:
    - backendRefs: [{name: echo, port: 80}]
`

// enforcementCases set one policy field each (path, without "spec."), with a value the
// webhook admits. Every leaf field of the frontend, backend and traffic sections is covered
// by a case for it or for a field that contains it (TestNotEnforcedMatchesTranslation checks).
var enforcementCases = []struct{ path, spec string }{
	{"frontend.tls.minVersion", `frontend: {tls: {minVersion: "1.3"}}`},
	{"frontend.tls.cipherSuites", `frontend: {tls: {cipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]}}`},
	{"frontend.tls.alpnProtocols", `frontend: {tls: {alpnProtocols: [h2]}}`},
	{"frontend.http.maxRequestHeadersKB", `frontend: {http: {maxRequestHeadersKB: 8}}`},
	{"frontend.http.requestHeaderTimeout", `frontend: {http: {requestHeaderTimeout: 5s}}`},
	{"frontend.http.idleTimeout", `frontend: {http: {idleTimeout: 60s}}`},
	{"frontend.http.http2MaxConcurrentStreams", `frontend: {http: {http2MaxConcurrentStreams: 100}}`},
	{"frontend.http.http3", `frontend: {http: {http3: true}}`},
	{"frontend.tcp.keepalive.time", `frontend: {tcp: {keepalive: {time: 30s}}}`},
	{"frontend.tcp.keepalive.interval", `frontend: {tcp: {keepalive: {interval: 10s}}}`},
	{"frontend.tcp.keepalive.probes", `frontend: {tcp: {keepalive: {probes: 3}}}`},
	{"frontend.accessLog.filter", `frontend: {accessLog: {filter: 'request.path == "/"'}}`},
	{"frontend.accessLog.attributes", `frontend: {accessLog: {attributes: [{name: p, expression: request.path}]}}`},
	{"frontend.tracing", `frontend: {tracing: {provider: {backendRef: {name: echo, port: 80}}, protocol: HTTP, path: /v1/traces, samplingRate: {numerator: 50}, parentBased: true, parentSamplingRate: {numerator: 1}, condition: 'request.path != "/"', serviceName: gw, attributes: [{name: a, value: x}, {name: b, header: x-b}, {name: c, expression: request.path}]}}`},
	{"backend.tls.mtlsCertificateRef", `backend: {tls: {mtlsCertificateRef: {name: client}}}`},
	{"backend.tls.caCertificateRefs", `backend: {tls: {caCertificateRefs: [{kind: ConfigMap, name: ca}]}}`},
	{"backend.tls.sni", `backend: {tls: {sni: echo.internal}}`},
	{"backend.tls.subjectAltNames", `backend: {tls: {subjectAltNames: [echo.internal]}}`},
	{"backend.tls.alpnProtocols", `backend: {tls: {alpnProtocols: [h2]}}`},
	{"backend.tls.insecureSkipVerify", `backend: {tls: {insecureSkipVerify: true}}`},
	{"backend.http.version", `backend: {http: {version: HTTP2}}`},
	{"backend.tcp.connectTimeout", `backend: {tcp: {connectTimeout: 2s}}`},
	{"backend.tcp.keepalive.time", `backend: {tcp: {keepalive: {time: 30s}}}`},
	{"backend.tcp.keepalive.interval", `backend: {tcp: {keepalive: {interval: 10s}}}`},
	{"backend.tcp.keepalive.probes", `backend: {tcp: {keepalive: {probes: 3}}}`},
	{"backend.healthCheck", `backend: {healthCheck: {interval: 5s, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 3, http: {path: /healthz, host: a.example, expectedStatuses: [{start: 200, end: 299}]}}}`},
	{"backend.healthCheck.tcp", `backend: {healthCheck: {tcp: {}}}`},
	{"backend.outlierDetection", `backend: {outlierDetection: {consecutive5xx: 5, consecutiveGatewayErrors: 5, consecutiveLocalOriginFailures: 1, interval: 10s, baseEjectionTime: 5s, maxEjectionTime: 60s, maxEjectionPercent: 50}}`},
	{"backend.circuitBreakers", `backend: {circuitBreakers: {maxConnections: 10, maxPendingRequests: 1, maxRequests: 10, maxRetries: 1}}`},
	{"backend.connectRetries", `backend: {connectRetries: 1}`},
	{"backend.auth", `backend: {auth: {secretRef: {name: token}}}`},
	{"traffic.transformation", `traffic: {transformation: {request: {set: [{name: x-a, value: '"a"'}]}}}`},
	{"traffic.extAuth", `traffic: {extAuth: {protocol: HTTP, backendRef: {name: echo, port: 80}}}`},
	{"traffic.jwtAuthentication", `traffic: {jwtAuthentication: {providers: [{name: a, issuer: "https://a", jwks: {remote: {url: "https://a/jwks"}}}]}}`},
	{"traffic.apiKeyAuthentication", `traffic: {apiKeyAuthentication: {secretRefs: [{name: keys}]}}`},
	{"traffic.basicAuthentication", `traffic: {basicAuthentication: {secretRef: {name: htpasswd}}}`},
	{"traffic.authorization", `traffic: {authorization: {action: Allow, rules: ['request.method == "GET"']}}`},
	{"traffic.mcpAuthorization", `traffic: {mcpAuthorization: {action: Allow, rules: ['mcp.tool.name == "a"']}}`},
	{"traffic.rateLimit", `traffic: {rateLimit: {local: [{requests: 1, unit: Second}]}}`},
	{"traffic.cors", `traffic: {cors: {allowOrigins: ["https://a.example"]}}`},
	{"traffic.csrf", `traffic: {csrf: {additionalOrigins: ["https://a.example"]}}`},
	{"traffic.headerModifiers", `traffic: {headerModifiers: {request: {set: [{name: x-a, value: a}]}}}`},
	{"traffic.timeouts", `traffic: {timeouts: {request: 1s}}`},
	{"traffic.retry", `traffic: {retry: {attempts: 1}}`},
	{"traffic.directResponse", `traffic: {directResponse: {status: 200}}`},
	{"traffic.sessionPersistence", `traffic: {sessionPersistence: {cookie: {name: s}}}`},
	{"traffic.bodyLimits", `traffic: {bodyLimits: {request: 1024, response: 2048}}`},
}

// TestNotEnforcedMatchesTranslation: the webhook warns about a field exactly when the
// operator's translator reports it as not enforced in the policy's status. A field the
// proxy starts enforcing must leave webhook/validation/enforced.go in the same change.
func TestNotEnforcedMatchesTranslation(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range enforcementCases {
		covered[tc.path] = true
		t.Run(tc.path, func(t *testing.T) {
			s := &translate.Snapshot{}
			if err := yaml.UnmarshalStrict([]byte(enforcementBase), s); err != nil {
				t.Fatal(err)
			}
			s.ControllerName = "agentgateway.dev/agentgateway"
			target := `{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}`
			switch strings.Split(tc.path, ".")[0] {
			case "frontend":
				target = `{group: gateway.networking.k8s.io, kind: Gateway, name: gw}`
			case "backend":
				target = `{group: "", kind: Service, name: echo}`
			}
			var p v1alpha1.AgentgatewayPolicy
			doc := "metadata: {name: p, namespace: default, generation: 1}\nspec:\n  targetRefs: [" + target + "]\n  " + tc.spec + "\n"
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
				t.Fatal(err)
			}
			errs, warnings := validation.ValidatePolicy(&p)
			if len(errs) > 0 {
				t.Fatalf("webhook rejects the case: %v", errs)
			}
			webhook := ""
			for _, w := range warnings {
				if strings.Contains(w, "not enforced by this proxy version") {
					webhook = w
				}
			}
			s.Policies = append(s.Policies, p)
			res := translate.Translate(s)
			status, reached := "", false
			for _, pr := range res.Policies {
				for _, a := range pr.Ancestors {
					for _, c := range a.Conditions {
						reached = true
						if strings.Contains(c.Message, "not enforced by this proxy version") {
							status = c.Message
						}
					}
				}
			}
			if !reached {
				t.Fatalf("the policy has no status: it did not reach the Gateway")
			}
			switch {
			case webhook != "" && status == "":
				t.Errorf("the webhook warns %q, but the translator enforces the field: remove %s from webhook/validation/enforced.go", webhook, "spec."+tc.path)
			case webhook == "" && status != "":
				t.Errorf("the translator reports %q, but the webhook does not warn: add %s to webhook/validation/enforced.go", status, "spec."+tc.path)
			}
		})
	}
	for _, leaf := range leafPaths(reflect.TypeFor[v1alpha1.AgentgatewayPolicySpec](), "") {
		if strings.HasPrefix(leaf, "targetRefs") || strings.HasPrefix(leaf, "targetSelectors") {
			continue
		}
		ok := false
		for p := leaf; p != "" && !ok; p = parent(p) {
			ok = covered[p]
		}
		if !ok {
			t.Errorf("no case in enforcementCases sets %s (or a field containing it): add one", leaf)
		}
	}
}

func parent(p string) string {
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// leafPaths lists the JSON paths of the fields under t, descending into the structs of the
// agentgateway API package only.
func leafPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[v1alpha1.AgentgatewayPolicySpec]().PkgPath() {
			out = append(out, leafPaths(ft, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}
