package main

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// runMainEnv makes the test binary run main() itself, so the tests exercise the real flag
// handling without building the operator a second time.
const runMainEnv = "AGW_OPERATOR_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = []string{"operator", "--version"}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestVersionFlag runs `operator --version` with no other flag and no cluster: it prints one
// line and exits 0. hack/images checks the link-time values in the built binary.
func TestVersionFlag(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "KUBECONFIG=/nonexistent")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("operator --version: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^operator version \S+, revision \S+, go\S+ \w+/\w+\n$`).Match(out) {
		t.Errorf("operator --version printed %q", out)
	}
}
