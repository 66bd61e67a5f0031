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

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/webhook"
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := apply(t, tc.doc)
			if tc.wantErr != (err != nil) {
				t.Fatalf("kubectl apply: err=%v, want error=%v\n%s", err, tc.wantErr, out)
			}
			for _, w := range tc.want {
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
