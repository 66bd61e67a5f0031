// Package standin builds small static Go programs for linux/amd64 and linux/arm64 that the
// tests of hack/images assemble into images: real ELF files of the right architecture, built
// in seconds instead of the minutes the operator takes.
package standin

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Platforms are the platforms Binaries builds for.
var Platforms = []string{"linux/amd64", "linux/arm64"}

var (
	once sync.Once
	bins map[string]string
	err  error
)

// Binaries returns the stand-in program's path per platform, building it once per test
// process into a directory that outlives single tests.
func Binaries(t testing.TB) map[string]string {
	t.Helper()
	once.Do(func() { bins, err = build() })
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

func build() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "images-standin-")
	if err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"stand-in\") }\n"), 0o644); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join(dir, arch, "standin")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, src)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, errors.New("go build stand-in for " + arch + ": " + err.Error() + "\n" + string(b))
		}
		out["linux/"+arch] = bin
	}
	return out, nil
}
