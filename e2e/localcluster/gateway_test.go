package localcluster_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
)

// TestGatewayEndToEnd installs agentgateway-go from manifests/ exactly as a user does, on the
// same cluster as the other tests of this binary, and checks the whole path: the demo Gateway
// gets Programmed once its proxy acknowledged the config, traffic flows through it, the
// webhook rejects bad CEL at apply time, a bad policy that bypassed the webhook is reported
// Accepted=False and fails closed, a valid policy is enforced, and the views API shows what
// the proxy runs.
func TestGatewayEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	root := envtest.RepoRoot()
	kubectl := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	kubectlErr := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	eventually := func(t *testing.T, what string, timeout time.Duration, f func() error) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
			if err = f(); err == nil {
				return
			}
		}
		t.Fatalf("%s: %v", what, err)
	}

	kubectl(t, "apply", "--server-side", "-k", filepath.Join(root, "manifests", "gateway-api"))
	kubectl(t, "apply", "--server-side", "-k", filepath.Join(root, "manifests", "crds"))
	kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	kubectl(t, "apply", "--server-side", "-k", filepath.Join(root, "manifests", "operator"))
	// The first start builds the operator binary from this tree (minutes on a cold cache).
	kubectl(t, "-n", "agentgateway-system", "rollout", "status", "deployment/agentgateway-operator", "--timeout=900s")
	kubectl(t, "apply", "--server-side", "-f", filepath.Join(root, "manifests", "demo", "demo.yaml"))
	kubectl(t, "-n", "demo", "wait", "--for=condition=Programmed", "gateway/demo", "--timeout=600s")
	addr := strings.TrimSpace(kubectl(t, "-n", "demo", "get", "gateway", "demo", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}

	get := func(headers map[string]string) (int, http.Header, error) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		if err != nil {
			return 0, nil, err
		}
		req.Host = "demo.example.com"
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, nil, err
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header, nil
	}
	wantStatus := func(t *testing.T, code int, headers map[string]string) {
		t.Helper()
		eventually(t, fmt.Sprintf("GET demo.example.com with %v answers %d", headers, code), 30*time.Second, func() error {
			got, _, err := get(headers)
			if err != nil {
				return err
			}
			if got != code {
				return fmt.Errorf("status %d", got)
			}
			return nil
		})
	}

	t.Run("traffic", func(t *testing.T) {
		wantStatus(t, 200, nil)
		_, h, err := get(nil)
		if err != nil || h.Get("X-Served-By") != "agentgateway-go" {
			t.Fatalf("response header filter not applied: %v %v", h, err)
		}
	})

	bad := `apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: typo, namespace: demo}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: echo}]
  traffic:
    authorization:
      action: Allow
      rules: ['request.hedaers["x-user"] == "admin"']
`
	badFile := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("webhook rejects bad CEL", func(t *testing.T) {
		// The webhook becomes reachable once its rotated certificate is injected.
		eventually(t, "kubectl apply of a bad policy is rejected by the webhook", 60*time.Second, func() error {
			out, err := kubectlErr("apply", "-f", badFile)
			if err == nil {
				if dout, derr := kubectlErr("-n", "demo", "delete", "agentgatewaypolicy", "typo"); derr != nil {
					return fmt.Errorf("admitted: %s (and deleting it failed: %v: %s)", out, derr, dout)
				}
				return fmt.Errorf("admitted: %s", out)
			}
			if !strings.Contains(out, `spec.traffic.authorization.rules[0]: Invalid value`) || !strings.Contains(out, "did you mean 'request.headers'") {
				return fmt.Errorf("unexpected rejection: %s", out)
			}
			return nil
		})
	})

	t.Run("policy that bypassed the webhook fails closed", func(t *testing.T) {
		kubectl(t, "delete", "validatingwebhookconfiguration", "agentgateway-validation")
		t.Cleanup(func() {
			if out, err := kubectlErr("apply", "--server-side", "-k", filepath.Join(root, "manifests", "operator")); err != nil {
				t.Errorf("restoring the operator manifests: %v: %s", err, out)
			}
		})
		kubectl(t, "apply", "-f", badFile)
		eventually(t, "policy status Accepted=False/Invalid", 30*time.Second, func() error {
			out, err := kubectlErr("-n", "demo", "get", "agentgatewaypolicy", "typo", "-o", `jsonpath={.status.ancestors[0].conditions[?(@.type=="Accepted")].reason}`)
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if strings.TrimSpace(out) != "Invalid" {
				return fmt.Errorf("Accepted reason %q", out)
			}
			return nil
		})
		wantStatus(t, 500, nil)
		kubectl(t, "-n", "demo", "delete", "agentgatewaypolicy", "typo")
		wantStatus(t, 200, nil)
	})

	t.Run("valid policy enforced and shown in effectiveconfig", func(t *testing.T) {
		good := strings.NewReplacer("typo", "admins-only", "hedaers", "headers").Replace(bad)
		goodFile := filepath.Join(t.TempDir(), "good.yaml")
		if err := os.WriteFile(goodFile, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl(t, "apply", "-f", goodFile)
		wantStatus(t, 403, nil)
		wantStatus(t, 200, map[string]string{"x-user": "admin"})
		out := kubectl(t, "-n", "demo", "get", "effectiveconfig", "demo", "-o", "yaml")
		for _, want := range []string{"field: traffic.authorization", "source: demo/admins-only (Route)", "name: demo/echo:8080"} {
			if !strings.Contains(out, want) {
				t.Errorf("effectiveconfig lacks %q:\n%s", want, out)
			}
		}
		// The proxy acks asynchronously, and a later event (an EndpointSlice
		// or status update) may publish a newer version; both views converge.
		eventually(t, "proxystatus shows a connected proxy on the effectiveconfig version", 30*time.Second, func() error {
			ps, err := kubectlErr("get", "proxystatus", "-n", "demo", "-o", "jsonpath={.items[*].connected} {.items[*].ackedVersion}")
			if err != nil {
				return fmt.Errorf("%v: %s", err, ps)
			}
			ver, err := kubectlErr("-n", "demo", "get", "effectiveconfig", "demo", "-o", "jsonpath={.version}")
			if err != nil {
				return fmt.Errorf("%v: %s", err, ver)
			}
			ver = strings.TrimSpace(ver)
			if ver == "" || !strings.HasPrefix(ps, "true ") || !strings.Contains(ps, ver) {
				return fmt.Errorf("proxystatus %q, effectiveconfig version %q", ps, ver)
			}
			return nil
		})
		kubectl(t, "-n", "demo", "delete", "agentgatewaypolicy", "admins-only")
	})
}
