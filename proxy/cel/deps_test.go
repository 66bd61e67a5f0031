package cel

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package importable by the proxy: cel-go and the
// standard library only, never Kubernetes or the operator.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", "agentgateway-go/apis", "agentgateway-go/operator"} {
			if strings.Contains(dep, banned) {
				t.Errorf("proxy/cel depends on %s", dep)
			}
		}
	}
}
