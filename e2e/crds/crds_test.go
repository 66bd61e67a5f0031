package crds

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/generated/clientset/versioned"
)

var (
	policies   = agwv1a1.SchemeGroupVersion.WithResource("agentgatewaypolicies")
	backends   = agwv1a1.SchemeGroupVersion.WithResource("agentgatewaybackends")
	parameters = agwv1a1.SchemeGroupVersion.WithResource("agentgatewayparameters")
)

func startAPIServer(t *testing.T) *envtest.Env {
	return envtest.Start(t, filepath.Join(envtest.RepoRoot(), "manifests", "crds"))
}

// schemaCase is one object sent to the apiserver and what it must answer.
type schemaCase struct {
	name     string
	resource schema.GroupVersionResource
	spec     string
	// wantErr are substrings of the rejection; each names a field path. Empty: must be accepted.
	wantErr []string
}

var schemaCases = []schemaCase{
	// AgentgatewayPolicy: accepted shapes.
	{name: "policy-full", resource: policies, spec: `
targetRefs:
- {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: rule-a}
- {group: "", kind: Service, name: svc}
- {group: agentgateway.dev, kind: AgentgatewayBackend, name: b}
traffic:
  transformation:
    request:
      when: 'request.path.startsWith("/api")'
      set: [{name: x-user, value: 'request.headers["x-user"]'}]
      add: [{name: x-via, value: '"agw"'}]
      remove: [x-internal]
    response:
      body: '"replaced"'
  extAuth:
    backendRef: {name: authz, port: 9000}
    protocol: GRPC
    grpc: {contextExtensions: {tenant: a}}
    failureMode: Closed
    timeout: 2s
  jwtAuthentication:
    mode: Strict
    providers:
    - name: corp
      issuer: https://issuer.example.com
      audiences: [api]
      jwks: {remote: {url: https://issuer.example.com/jwks.json, cacheDuration: 5m}}
      claimsToHeaders: [{claim: sub, header: x-sub}]
  authorization: {action: Allow, rules: ['jwt.claims["group"] == "admins"']}
  rateLimit: {local: [{requests: 10, unit: Second, burst: 20, key: 'request.headers["x-user"]'}]}
  cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET, POST]}
  timeouts: {request: 10s, backendRequest: 2s}
  retry: {attempts: 2, codes: [502, 503], backoff: 100ms, budget: {percent: 20, interval: 10s, minRetriesPerSecond: 3}}
  sessionPersistence: {type: Cookie, cookie: {name: agw-session}}
backend:
  tls:
    mtlsCertificateRef: {name: client-cert}
    caCertificateRefs: [{kind: ConfigMap, name: ca}]
    sni: backend.example.com
    subjectAltNames: [backend.example.com]
  http: {version: HTTP2}
  tcp: {connectTimeout: 3s}
`},
	{name: "policy-frontend-on-gateway", resource: policies, spec: `
targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: https}]
frontend:
  tls: {minVersion: "1.3", alpnProtocols: [h2]}
  http: {maxRequestHeadersKB: 64, idleTimeout: 60s, http3: true}
  accessLog: {filter: 'response.code >= 500', attributes: [{name: user, expression: 'request.headers["x-user"]'}]}
`},
	{name: "policy-inline-only", resource: policies, spec: `
traffic: {directResponse: {status: 418, body: teapot}}
`},
	{name: "policy-selector", resource: policies, spec: `
targetSelectors: [{group: gateway.networking.k8s.io, kind: HTTPRoute, matchLabels: {team: a}}]
traffic: {csrf: {additionalOrigins: ["https://a.example.com"]}}
`},

	// AgentgatewayPolicy: rejected shapes, each with its field path.
	{name: "policy-empty", resource: policies, spec: `
targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
`, wantErr: []string{"spec: Invalid value", "at least one of frontend, traffic or backend must be set"}},
	{name: "policy-group-kind-mismatch", resource: policies, spec: `
targetRefs: [{group: "", kind: Gateway, name: gw}]
traffic: {timeouts: {request: 1s}}
`, wantErr: []string{"spec.targetRefs[0]: Invalid value", "group does not match kind"}},
	{name: "policy-unknown-kind", resource: policies, spec: `
targetRefs: [{group: apps, kind: Deployment, name: d}]
traffic: {timeouts: {request: 1s}}
`, wantErr: []string{`spec.targetRefs[0].kind: Unsupported value: "Deployment"`, `spec.targetRefs[0].group: Unsupported value: "apps"`}},
	{name: "policy-frontend-on-route", resource: policies, spec: `
targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
frontend: {tls: {minVersion: "1.2"}}
`, wantErr: []string{"frontend settings apply to listeners"}},
	{name: "policy-section-on-backend", resource: policies, spec: `
targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: b, sectionName: x}]
traffic: {timeouts: {request: 1s}}
`, wantErr: []string{"spec.targetRefs[0]: Invalid value", "sectionName is only valid for"}},
	{name: "policy-refs-and-selectors", resource: policies, spec: `
targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
targetSelectors: [{group: gateway.networking.k8s.io, kind: Gateway, matchLabels: {a: b}}]
traffic: {timeouts: {request: 1s}}
`, wantErr: []string{"use either targetRefs or targetSelectors, not both"}},
	{name: "policy-empty-cel", resource: policies, spec: `
traffic: {authorization: {action: Deny, rules: [""]}}
`, wantErr: []string{"spec.traffic.authorization.rules[0]: Invalid value", "at least 1 chars long"}},
	{name: "policy-bad-action", resource: policies, spec: `
traffic: {authorization: {action: Maybe, rules: ["true"]}}
`, wantErr: []string{`spec.traffic.authorization.action: Unsupported value: "Maybe"`}},
	{name: "policy-retry-code-range", resource: policies, spec: `
traffic: {retry: {attempts: 1, codes: [200]}}
`, wantErr: []string{"spec.traffic.retry.codes[0]: Invalid value: 200", "greater than or equal to 400"}},
	{name: "policy-retry-attempts", resource: policies, spec: `
traffic: {retry: {attempts: 11}}
`, wantErr: []string{"spec.traffic.retry.attempts: Invalid value: 11", "less than or equal to 10"}},
	{name: "policy-jwks-both", resource: policies, spec: `
traffic:
  jwtAuthentication:
    providers: [{name: p, issuer: i, jwks: {inline: "{}", remote: {url: "https://x/jwks"}}}]
`, wantErr: []string{"spec.traffic.jwtAuthentication.providers[0].jwks: Invalid value", "set exactly one of inline or remote"}},
	{name: "policy-jwks-url-scheme", resource: policies, spec: `
traffic:
  jwtAuthentication:
    providers: [{name: p, issuer: i, jwks: {remote: {url: "ftp://x/jwks"}}}]
`, wantErr: []string{"spec.traffic.jwtAuthentication.providers[0].jwks.remote.url: Invalid value"}},
	{name: "policy-duplicate-header", resource: policies, spec: `
traffic:
  transformation:
    request:
      set: [{name: x-a, value: '"1"'}, {name: x-a, value: '"2"'}]
`, wantErr: []string{"spec.traffic.transformation.request.set[1]: Duplicate value"}},
	{name: "policy-insecure-with-ca", resource: policies, spec: `
backend: {tls: {insecureSkipVerify: true, caCertificateRefs: [{kind: Secret, name: ca}]}}
`, wantErr: []string{"spec.backend.tls: Invalid value", "insecureSkipVerify cannot be combined"}},
	{name: "policy-extauth-mismatch", resource: policies, spec: `
traffic: {extAuth: {backendRef: {name: a, port: 80}, protocol: HTTP, grpc: {}}}
`, wantErr: []string{"spec.traffic.extAuth: Invalid value", "grpc settings need protocol GRPC"}},
	{name: "policy-ratelimit-unit", resource: policies, spec: `
traffic: {rateLimit: {local: [{requests: 0, unit: Day}]}}
`, wantErr: []string{"spec.traffic.rateLimit.local[0].requests: Invalid value: 0", `spec.traffic.rateLimit.local[0].unit: Unsupported value: "Day"`}},
	{name: "policy-tls-version", resource: policies, spec: `
targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
frontend: {tls: {minVersion: "1.1"}}
`, wantErr: []string{`spec.frontend.tls.minVersion: Unsupported value: "1.1"`}},
	{name: "policy-unknown-field", resource: policies, spec: `
traffic: {timeouts: {requets: 1s}}
`, wantErr: []string{`unknown field "spec.traffic.timeouts.requets"`}},

	// AgentgatewayBackend.
	{name: "backend-static", resource: backends, spec: `
static: {host: api.example.com, port: 443, appProtocol: https}
`},
	{name: "backend-none", resource: backends, spec: `{}`,
		wantErr: []string{"spec: Invalid value", "set exactly one backend variant"}},
	{name: "backend-bad-port", resource: backends, spec: `
static: {host: api.example.com, port: 0}
`, wantErr: []string{"spec.static.port: Invalid value: 0"}},
	{name: "backend-bad-host", resource: backends, spec: `
static: {host: "not a host!", port: 80}
`, wantErr: []string{"spec.static.host: Invalid value"}},

	// AgentgatewayParameters.
	{name: "parameters-full", resource: parameters, spec: `
image: {registry: ghcr.io, repository: agentgateway-go/proxy, tag: dev, pullPolicy: IfNotPresent}
replicas: 2
resources: {requests: {cpu: 100m, memory: 64Mi}}
env: [{name: RUST_LOG, value: info}]
logging: {level: debug, format: text}
service: {type: ClusterIP, annotations: {a: b}, externalTrafficPolicy: Local}
overlays:
  deployment: {spec: {template: {spec: {tolerations: [{key: dedicated, operator: Exists}]}}}}
`},
	{name: "parameters-negative-replicas", resource: parameters, spec: `
replicas: -1
`, wantErr: []string{"spec.replicas: Invalid value: -1"}},
	{name: "parameters-service-type", resource: parameters, spec: `
service: {type: ExternalName}
`, wantErr: []string{`spec.service.type: Unsupported value: "ExternalName"`}},
	{name: "parameters-log-level", resource: parameters, spec: `
logging: {level: verbose}
`, wantErr: []string{`spec.logging.level: Unsupported value: "verbose"`}},
}

func TestCRDSchemas(t *testing.T) {
	// Strict field validation answers an unknown field with BadRequest, not Invalid.
	checkSchemaCases(t, schemaCases, true)
}

// checkSchemaCases creates each case's object (AgentgatewayParameters when the case names no
// resource) with strict field validation and checks that it is accepted, or refused with an
// Invalid error (or BadRequest, when badRequestOK) naming every wantErr.
func checkSchemaCases(t *testing.T, cases []schemaCase, badRequestOK bool) {
	t.Helper()
	env := startAPIServer(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kinds := map[string]string{"agentgatewaypolicies": "AgentgatewayPolicy", "agentgatewaybackends": "AgentgatewayBackend", "agentgatewayparameters": "AgentgatewayParameters"}

	for _, tc := range cases {
		resource := tc.resource
		if resource.Resource == "" {
			resource = parameters
		}
		t.Run(tc.name, func(t *testing.T) {
			var spec map[string]interface{}
			if err := yaml.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatalf("test spec: %v", err)
			}
			obj := &unstructured.Unstructured{Object: map[string]interface{}{
				"apiVersion": agwv1a1.SchemeGroupVersion.String(),
				"kind":       kinds[resource.Resource],
				"metadata":   map[string]interface{}{"name": tc.name, "namespace": "default"},
				"spec":       spec,
			}}
			_, err := dyn.Resource(resource).Namespace("default").Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("valid object rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid object accepted; want an error containing %q", tc.wantErr)
			}
			if !apierrors.IsInvalid(err) && !(badRequestOK && apierrors.IsBadRequest(err)) {
				t.Fatalf("want an Invalid error (or BadRequest: %v), got %T: %v", badRequestOK, err, err)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestTypedClientRoundTrip creates objects through the generated clientset and reads them
// back: defaults, preserved overlays and the status subresource all behave as the types say.
func TestTypedClientRoundTrip(t *testing.T) {
	env := startAPIServer(t)
	cs, err := versioned.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	params := &agwv1a1.AgentgatewayParameters{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
	}
	raw := []byte(`{"spec":{"template":{"metadata":{"annotations":{"x":"y"}}}}}`)
	params.Spec.Overlays = &agwv1a1.Overlays{Service: &runtime.RawExtension{Raw: raw}}
	got, err := cs.AgentgatewayV1alpha1().AgentgatewayParameters("default").Create(ctx, params, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create parameters: %v", err)
	}
	var back, want interface{}
	if err := json.Unmarshal(got.Spec.Overlays.Service.Raw, &back); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if b, w := mustJSON(t, back), mustJSON(t, want); b != w {
		t.Errorf("overlay not preserved: got %s, want %s", b, w)
	}

	backend := &agwv1a1.AgentgatewayBackend{
		ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"},
		Spec:       agwv1a1.AgentgatewayBackendSpec{Static: &agwv1a1.StaticBackend{Host: "10.0.0.1", Port: 8080}},
	}
	created, err := cs.AgentgatewayV1alpha1().AgentgatewayBackends("default").Create(ctx, backend, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create backend: %v", err)
	}
	created.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "ok", LastTransitionTime: metav1.Now()}}
	updated, err := cs.AgentgatewayV1alpha1().AgentgatewayBackends("default").UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if len(updated.Status.Conditions) != 1 || updated.Generation != created.Generation {
		t.Errorf("status update: conditions=%v generation %d -> %d (status must not bump generation)", updated.Status.Conditions, created.Generation, updated.Generation)
	}
}

// TestKubectlExplain checks that the field documentation reaches users through kubectl.
func TestKubectlExplain(t *testing.T) {
	kubectl := envtest.Kubectl(t)
	env := startAPIServer(t)
	// The apiserver publishes a new CRD's OpenAPI schema asynchronously after the CRD is
	// Established, so explain may briefly not know the resource.
	var out []byte
	var err error
	for deadline := time.Now().Add(60 * time.Second); ; {
		out, err = exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "explain", "agentgatewaypolicy.spec.traffic.transformation").CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("kubectl explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"KIND:", "AgentgatewayPolicy",
		"Transformation sets, adds or removes request and response headers",
		"request", "Request is applied before the request is sent to the backend",
		"response",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl explain output lacks %q:\n%s", want, out)
		}
	}
}

func mustJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}
