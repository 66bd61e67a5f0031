package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

func TestCommitVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git is needed: %v", err)
		}
		t.Skipf("git is needed: %v", err)
	}
	dir := t.TempDir()
	if got := commitVersion(dir); got != "dev" {
		t.Fatalf("outside a git checkout: version %q, want dev", got)
	}

	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("main.go", "package main\n")
	write("README.md", "readme\n")
	write("e2e/conformance-report.yaml", "report\n")
	git("add", ".")
	git("commit", "-q", "-m", "initial")
	head := regexp.MustCompile(`^[0-9a-f]{40}`).FindString(git("rev-parse", "HEAD"))
	if head == "" {
		t.Fatal("git rev-parse HEAD printed no commit")
	}

	if got := commitVersion(dir); got != head {
		t.Fatalf("clean checkout: version %q, want %q", got, head)
	}
	// The run's outputs and untracked files leave the version clean.
	write("README.md", "tables rendered from a new report\n")
	write("e2e/conformance-report.yaml", "new report\n")
	write("untracked.txt", "x\n")
	if got := commitVersion(filepath.Join(dir, "e2e")); got != head {
		t.Fatalf("only outputs and untracked files changed, from a subdirectory: version %q, want %q", got, head)
	}
	write("main.go", "package main // changed\n")
	if got := commitVersion(dir); got != head+"-dirty" {
		t.Fatalf("tracked file changed: version %q, want %q", got, head+"-dirty")
	}
	git("add", "main.go")
	if got := commitVersion(dir); got != head+"-dirty" {
		t.Fatalf("staged change: version %q, want %q", got, head+"-dirty")
	}
}
