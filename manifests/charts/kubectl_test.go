package charts

import (
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
)

// TestKustomizeMatchesKubectl: the kustomize library the generator and the drift test use
// builds the same objects as `kubectl kustomize manifests`, which users, `make run` and the
// local-cluster tests apply.
func TestKustomizeMatchesKubectl(t *testing.T) {
	kubectl := envtest.Kubectl(t)
	out, err := exec.Command(kubectl, "kustomize", testManifests).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	fromKubectl, err := DecodeYAML(out)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Kustomize(testManifests)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(byKey(t, fromKubectl), byKey(t, ours)); d != "" {
		t.Errorf("kubectl kustomize and the kustomize library differ (-kubectl +library):\n%s", d)
	}
}
