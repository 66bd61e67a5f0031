package webhook_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/webhook"
	"github.com/agentgateway/agentgateway-go/webhook/validation"
)

// TestKubectlApplyThroughWebhook serves the webhooks to a real kube-apiserver, registered by
// the same ValidatingWebhookConfiguration users install, and applies objects with kubectl.
func TestKubectlApplyThroughWebhook(t *testing.T) {
	kubectl := envtest.Kubectl(t)
	root := envtest.RepoRoot()
	env := envtest.StartWith(t, envtest.Options{
		CRDPaths:     []string{filepath.Join(root, "manifests", "crds")},
		WebhookPaths: []string{filepath.Join(root, "manifests", "operator", "webhook.yaml")},
	})

	ctrl.SetLogger(logr.Discard())
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := agwv1a1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	wio := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Register(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	waitForTLS(t, net.JoinHostPort(wio.LocalServingHost, fmt.Sprint(wio.LocalServingPort)))

	apply := func(t *testing.T, doc string) (string, error) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "obj.yaml")
		if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "apply", "-f", f).CombinedOutput()
		return string(out), err
	}

	cases := []struct {
		name    string
		doc     string
		wantErr bool
		want    []string
		// warnings: the output also has every warning ValidatePolicy gives for doc.
		warnings bool
	}{
		{
			name: "typo in a variable field",
			doc: policy("typo", `
  traffic:
    authorization:
      action: Allow
      rules:
      - 'request.hedaers["x-user"] == "admin"'`),
			wantErr: true,
			want:    []string{`The AgentgatewayPolicy "typo" is invalid`, `spec.traffic.authorization.rules[0]: Invalid value: "request.hedaers[\"x-user\"] == \"admin\""`, "hedaers"},
		},
		{
			name: "typo in an mcp field gets the field path and a hint",
			doc: policy("mcp-typo", `
  traffic:
    mcpAuthorization:
      action: Allow
      rules:
      - 'mcp.tool.nmae == "x"'`),
			wantErr: true,
			want: []string{`The AgentgatewayPolicy "mcp-typo" is invalid`, `spec.traffic.mcpAuthorization.rules[0]: Invalid value: "mcp.tool.nmae == \"x\""`,
				"undefined field 'nmae' of mcp.tool (did you mean 'mcp.tool.name'?)"},
		},
		{
			name: "mcp backend is admitted",
			doc: `apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: default}
spec:
  mcp:
    failureMode: FailOpen
    targets:
    - {name: github, static: {host: github-mcp.example.com, port: 8080}}
    - {name: weather, service: {name: weather, port: 8080}, transport: SSE}
`,
			want: []string{"agentgatewaybackend.agentgateway.dev/tools created"},
		},
		{
			name: "mcp target with both static and service is rejected by the schema",
			doc: `apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: both, namespace: default}
spec:
  mcp:
    targets:
    - {name: a, static: {host: a.example.com, port: 80}, service: {name: a, port: 80}}
`,
			wantErr: true,
			want:    []string{"spec.mcp.targets[0]", "set exactly one of static or service"},
		},
		{
			name: "wrong header value type and a bad regex reported together",
			doc: policy("types", `
  traffic:
    transformation:
      request:
        set:
        - name: x-count
          value: 'size(request.headers)'
    authorization:
      action: Deny
      rules:
      - 'request.path.matches("[")'`),
			wantErr: true,
			want:    []string{"spec.traffic.transformation.request.set[0].value: Invalid value", "spec.traffic.authorization.rules[0]: Invalid value"},
		},
		{
			name: "valid policy",
			doc: policy("valid", `
  traffic:
    transformation:
      request:
        set:
        - name: x-user
          value: 'request.headers["x-user"]'
    authorization:
      action: Allow
      rules:
      - 'request.method == "GET" && request.path.startsWith("/api")'`),
			want: []string{"agentgatewaypolicy.agentgateway.dev/valid created"},
		},
		{
			name: "parameters overlay that does not fit a Deployment",
			doc: `apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayParameters
metadata: {name: bad-overlay, namespace: default}
spec:
  overlays:
    deployment: {spec: {replica: 3}}
`,
			wantErr: true,
			want:    []string{"spec.overlays.deployment: Invalid value", `unknown field "replica"`},
		},
		{
			name: "backend on loopback is admitted with a warning",
			doc: `apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: loop, namespace: default}
spec:
  static: {host: 127.0.0.1, port: 8080}
`,
			want: []string{"Warning: spec.static.host: loopback address", "agentgatewaybackend.agentgateway.dev/loop created"},
		},
		{
			name: "backend with appProtocol tcp is admitted with a warning",
			doc: `apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: raw, namespace: default}
spec:
  static: {host: raw.example.com, port: 9000, appProtocol: tcp}
`,
			want: []string{"Warning: spec.static.appProtocol: tcp makes this a raw TCP backend", "agentgatewaybackend.agentgateway.dev/raw created"},
		},
		{
			name: "backend section on a Gateway target is admitted with a warning",
			doc: policy("backend-on-gateway", `
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  backend:
    tcp: {connectTimeout: 2s}`),
			want: []string{"Warning: spec.backend: ignored at spec.targetRefs[0] (Gateway gw): backend settings take effect only on Service or AgentgatewayBackend targets",
				"agentgatewaypolicy.agentgateway.dev/backend-on-gateway created"},
		},
		{
			name: "traffic section on Service targets is admitted with a warning",
			doc: policy("traffic-on-service", `
  targetSelectors: [{group: "", kind: Service, matchLabels: {app: echo}}]
  traffic:
    timeouts: {request: 1s}`),
			want: []string{"Warning: spec.traffic: ignored at spec.targetSelectors[0] (every Service selected): traffic settings take effect on Gateway, listener, route and rule targets, not on backends",
				"agentgatewaypolicy.agentgateway.dev/traffic-on-service created"},
		},
		{
			name: "a policy used only inline warns about its backend section",
			doc: policy("inline-backend", `
  traffic:
    timeouts: {request: 1s}
  backend:
    http: {version: HTTP2}`),
			want: []string{"Warning: spec.backend: ignored: a policy without targetRefs or targetSelectors applies only inline",
				"agentgatewaypolicy.agentgateway.dev/inline-backend created"},
		},
		{
			// Which fields are not enforced depends on the proxy version (none today):
			// every warning ValidatePolicy gives for this policy must reach kubectl.
			name: "a policy setting every frontend field is admitted, with every warning the webhook gives for it",
			doc: policy("every-field", `
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  frontend:
    tls: {minVersion: "1.3", cipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]}
    http: {maxRequestHeadersKB: 8, requestHeaderTimeout: 5s, idleTimeout: 60s, http2MaxConcurrentStreams: 100, http3: true}
    tcp: {keepalive: {time: 30s, interval: 10s, probes: 3}}
    accessLog: {filter: 'response.code >= 500'}`),
			want:     []string{"agentgatewaypolicy.agentgateway.dev/every-field created"},
			warnings: true,
		},
		{
			name: "a policy setting backend fields is admitted, with every warning the webhook gives for it",
			doc: policy("every-backend-field", `
  targetRefs: [{group: "", kind: Service, name: echo}]
  backend:
    tcp: {connectTimeout: 2s, keepalive: {time: 30s}}
    auth: {secretRef: {name: token}}`),
			want:     []string{"agentgatewaypolicy.agentgateway.dev/every-backend-field created"},
			warnings: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := apply(t, tc.doc)
			if tc.wantErr != (err != nil) {
				t.Fatalf("kubectl apply: err=%v, want error=%v\n%s", err, tc.wantErr, out)
			}
			want := tc.want
			if tc.warnings {
				want = append(want, policyWarnings(t, tc.doc)...)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl output lacks %q:\n%s", w, out)
				}
			}
			t.Logf("kubectl apply:\n%s", out)
		})
	}
}

func policy(name, spec string) string {
	return "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\nmetadata: {name: " + name + ", namespace: default}\nspec:" + spec + "\n"
}

// policyWarnings are the lines kubectl prints for the webhook's warnings about a policy.
func policyWarnings(t *testing.T, doc string) []string {
	t.Helper()
	var p agwv1a1.AgentgatewayPolicy
	if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	errs, warnings := validation.ValidatePolicy(&p)
	if len(errs) > 0 {
		t.Fatalf("the policy is invalid: %v", errs)
	}
	out := make([]string, len(warnings))
	for i, w := range warnings {
		out[i] = "Warning: " + w
	}
	return out
}

func waitForTLS(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook server at %s never served TLS: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
