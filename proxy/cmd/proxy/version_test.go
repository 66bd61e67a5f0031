package main

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

func TestVersionRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--config", "c.yaml", "--version"}, true},
		{[]string{"--version=true"}, true},
		{[]string{"--config", "c.yaml"}, false},
		{[]string{"--", "--version"}, false},
		{nil, false},
	} {
		if got := versionRequested(tc.args); got != tc.want {
			t.Errorf("versionRequested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// runMainEnv makes the test binary run main() itself, so the test exercises the real flag
// handling without building the proxy a second time.
const runMainEnv = "AGW_PROXY_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = []string{"proxy", "--version"}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestVersionFlag runs `proxy --version` with no other flag (no --config): it prints one line
// and exits 0. hack/images checks the link-time values in the built binary.
func TestVersionFlag(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("proxy --version: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^proxy version \S+, revision \S+, go\S+ \w+/\w+\n$`).Match(out) {
		t.Errorf("proxy --version printed %q", out)
	}
}
