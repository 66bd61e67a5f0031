package proxy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import path prefixes the proxy must never depend on, even
// indirectly or from tests: the proxy is a plain Go program driven by its
// config (see "The proxy imports no Kubernetes or operator code" under
// Invariants in docs/architecture.md), so Kubernetes and operator code stay
// out. The check covers every package under proxy/, including proxy/cel, which
// the operator and the webhook import to compile expressions in the same
// environment as the proxy.
var forbidden = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/agentgateway/agentgateway-go/operator",
	"github.com/agentgateway/agentgateway-go/apis",
	"github.com/agentgateway/agentgateway-go/generated",
	"github.com/agentgateway/agentgateway-go/webhook",
}

func TestNoForbiddenImports(t *testing.T) {
	// Short mode may skip the go list run on a developer's machine, never in CI.
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("runs go list")
	}
	// -test includes the test-only dependencies of every proxy package.
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(p, f) {
				bad = append(bad, p)
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("the proxy depends on forbidden packages (remove the import chain; `go mod why -m` helps):\n  %s", strings.Join(bad, "\n  "))
	}
}

// TestPoliciesStayOutOfTheDataPlane keeps the policy packages
// (proxy/policy/...) independent of the data plane that runs them: they
// take what they need through policy.Env and their New arguments, so
// proxy/dataplane may import them and never the other way round.
func TestPoliciesStayOutOfTheDataPlane(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./policy/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const dataplane = "github.com/agentgateway/agentgateway-go/proxy/dataplane"
	for _, p := range strings.Fields(string(out)) {
		if p == dataplane || strings.HasPrefix(p, dataplane+"/") {
			t.Fatalf("a package under proxy/policy depends on %s; pass what it needs through policy.Env or its New instead", p)
		}
	}
}
