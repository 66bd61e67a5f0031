package localcluster_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
)

// kctl runs kubectl against one cluster. The Gateway end-to-end test keeps its own closures;
// tests written after it share these.
type kctl struct{ kubeconfig string }

// run returns kubectl's combined output and error.
func (k kctl) run(args ...string) (string, error) {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", k.kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// must runs kubectl and fails the test on error.
func (k kctl) must(t testing.TB, args ...string) string {
	t.Helper()
	out, err := k.run(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// applyYAML server-side applies a manifest. Admission webhooks can refuse for a while after
// the operator (re)starts or its webhook configuration is re-created (caBundle not injected
// yet), so transport-level webhook failures are retried; a real rejection fails at once.
func (k kctl) applyYAML(t testing.TB, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	var out string
	var err error
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(2 * time.Second) {
		out, err = k.run("apply", "--server-side", "--force-conflicts", "--field-manager=policy-e2e", "-f", f)
		if err == nil || time.Now().After(deadline) || !webhookUnavailable(out) {
			break
		}
	}
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// webhookUnavailable tells a webhook that cannot be called (yet) from one that answered.
func webhookUnavailable(out string) bool {
	for _, s := range []string{"failed calling webhook", "x509:", "connection refused", "no endpoints available", "context deadline exceeded", "i/o timeout"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// installAgentgateway applies manifests/ like a user does; idempotent, and cheap when the
// operator already runs.
func installAgentgateway(t testing.TB, k kctl) {
	t.Helper()
	root := envtest.RepoRoot()
	k.must(t, "apply", "--server-side", "-k", filepath.Join(root, "manifests", "gateway-api"))
	k.must(t, "apply", "--server-side", "-k", filepath.Join(root, "manifests", "crds"))
	k.must(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	k.must(t, "apply", "--server-side", "-k", filepath.Join(root, "manifests", "operator"))
	// The first start builds the operator binary from this tree (minutes on a cold cache).
	k.must(t, "-n", "agentgateway-system", "rollout", "status", "deployment/agentgateway-operator", "--timeout=900s")
}

// freshNamespace deletes namespace ns and waits until it is gone (a previous run's objects
// must not leak into this one), and deletes it again, without waiting, when the test ends.
func freshNamespace(t testing.TB, k kctl, ns string) {
	t.Helper()
	if out, err := k.run("delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"); err != nil {
		t.Fatalf("delete namespace %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := k.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false"); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", ns, err, out)
		}
	})
}

// waitUntil retries f every interval until it returns nil, and fails the test with the last
// error after timeout.
func waitUntil(t testing.TB, what string, timeout, interval time.Duration, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); ; time.Sleep(interval) {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// gwResponse is a response read whole.
type gwResponse struct {
	code   int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r *gwResponse) String() string {
	b := string(r.body)
	if len(b) > 300 {
		b = b[:300] + "..."
	}
	return fmt.Sprintf("%d %v %q", r.code, r.header, b)
}

// gwClient sends requests to a Gateway address with a virtual host, never following
// redirects and without a cookie jar.
type gwClient struct {
	addr string
	c    *http.Client
}

func newGWClient(addr string) *gwClient {
	return &gwClient{addr: addr, c: &http.Client{
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableKeepAlives: true},
	}}
}

// req is one request: host is the virtual host (the listener is plain HTTP on port 80).
type req struct {
	method, host, path string
	header             map[string]string
	body               string
}

func (g *gwClient) do(r req) (*gwResponse, error) {
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	path := r.path
	if path == "" {
		path = "/"
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(method, "http://"+g.addr+path, body)
	if err != nil {
		return nil, err
	}
	hr.Host = r.host
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := g.c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &gwResponse{code: resp.StatusCode, header: resp.Header, body: bytes.TrimSpace(b), took: time.Since(start)}, nil
}

// must sends r and fails the test on a transport error.
func (g *gwClient) must(t testing.TB, r req) *gwResponse {
	t.Helper()
	resp, err := g.do(r)
	if err != nil {
		t.Fatalf("%s %s%s: %v", r.method, r.host, r.path, err)
	}
	return resp
}

// expect sends r and fails the test unless the status is code; it returns the response.
func (g *gwClient) expect(t testing.TB, code int, r req) *gwResponse {
	t.Helper()
	resp := g.must(t, r)
	if resp.code != code {
		t.Fatalf("%s %s%s with %v: got %s, want status %d", orGet(r.method), r.host, r.path, r.header, resp, code)
	}
	return resp
}

func orGet(m string) string {
	if m == "" {
		return http.MethodGet
	}
	return m
}
