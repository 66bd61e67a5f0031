// Package envtest starts a real kube-apiserver and etcd (built by hack/kube-binaries.sh) for
// tests of CRDs, webhooks and the aggregated API, through controller-runtime's envtest.
//
// The binaries come from KUBEBUILDER_ASSETS, or from the hack/kube-binaries.sh cache. Without
// them a test is skipped with a message saying how to build them, except under CI=true, where
// a missing binary fails the test: CI must never pass by skipping.
package envtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Env is a running kube-apiserver with etcd.
type Env struct {
	*ctrlenvtest.Environment
	// Config reaches the apiserver as a cluster admin.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same admin user, for kubectl.
	Kubeconfig string
}

// RepoRoot is the root of the repository this package is compiled from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets returns the directory holding etcd and kube-apiserver, or an error telling how to
// build them.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	// Ask the build script where its cache is without building anything: with the binaries
	// already present it only prints the directory.
	out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "kube-binaries.sh"), "--print-dir").Output()
	if err != nil {
		return "", fmt.Errorf("locate control-plane binaries: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s is not built: run hack/kube-binaries.sh etcd kube-apiserver (about 10 minutes the first time) or set KUBEBUILDER_ASSETS", b)
		}
	}
	return dir, nil
}

// Start starts an apiserver with the given CRD files installed and stops it when the test ends.
func Start(t testing.TB, crdPaths ...string) *Env {
	t.Helper()
	return StartWith(t, Options{CRDPaths: crdPaths})
}

// Options configure StartWith.
type Options struct {
	// CRDPaths are CRD files or directories to install.
	CRDPaths []string
	// WebhookPaths are admission webhook configuration files; envtest rewrites their
	// clientConfig to reach a webhook server on Env.WebhookInstallOptions.LocalServingHost/Port
	// with the certificate in LocalServingCertDir.
	WebhookPaths []string
	// Aggregation sets the kube-apiserver flags API aggregation needs, which
	// controller-runtime's envtest does not set (see configureAggregation).
	Aggregation bool
}

// Unavailable reports that something a test needs (a binary, a tool on PATH) is missing: it
// skips the test with the reason, except under CI=true, where it fails it, so that CI never
// passes by skipping.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required by this test under CI=true: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// Kubectl returns the path of kubectl, or ends the test through Unavailable.
func Kubectl(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		Unavailable(t, "kubectl not on PATH: %v", err)
	}
	return bin
}

// StartWith starts an apiserver configured by o and stops it when the test ends.
func StartWith(t testing.TB, o Options) *Env {
	t.Helper()
	dir, err := Assets()
	if err != nil {
		Unavailable(t, "control plane for tests: %v", err)
	}
	env := &ctrlenvtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     o.CRDPaths,
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: ctrlenvtest.WebhookInstallOptions{Paths: o.WebhookPaths},
	}
	if o.Aggregation {
		if err := configureAggregation(env, t.TempDir()); err != nil {
			t.Fatalf("front-proxy certificates: %v", err)
		}
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop kube-apiserver: %v", err)
		}
	})
	user, err := env.AddUser(ctrlenvtest.User{Name: "envtest-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add admin user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Env{Environment: env, Config: cfg, Kubeconfig: path}
}
