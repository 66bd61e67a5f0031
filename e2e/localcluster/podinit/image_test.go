package podinit

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain lets the tests run this package's Main as a child process, as the node agent does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		Main(os.Args[2:])
		return
	}
	os.Exit(m.Run())
}

func TestRunInImageAsDeclaredUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (mount namespaces, overlayfs, setuid)")
		}
		t.Skip("needs root (mount namespaces, overlayfs, setuid)")
	}
	dir := t.TempDir()
	lower := filepath.Join(dir, "lower")
	for _, d := range []string{"etc", "work"} {
		if err := os.MkdirAll(filepath.Join(lower, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(lower, "whoami"), "./testdata/whoami")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build whoami: %v\n%s", err, out)
	}
	vol := filepath.Join(dir, "vol")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "file"), []byte("secret"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(vol, "file"), 0, 2000); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Hostname: "pod-a",
		Mounts:   []Mount{{Source: vol, Target: "/data", ReadOnly: true}},
		Dir:      "/work",
		Argv:     []string{"whoami"},
		Env:      []string{"PATH=/", "FROM_SPEC=yes"},
		RootFS: &RootFS{Lower: lower, Upper: filepath.Join(dir, "c", "upper"), Work: filepath.Join(dir, "c", "work"),
			Merged: filepath.Join(dir, "c", "rootfs"), ReadOnly: true},
		Identity: &Identity{UID: 65532, GID: 65532, Groups: []uint32{65532, 2000}, Caps: []int{unix.CAP_NET_BIND_SERVICE, unix.CAP_CHOWN},
			Ambient: []int{unix.CAP_NET_BIND_SERVICE}, NoNewPrivs: true},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], Arg, specPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pod-init: %v\n%s", err, out)
	}
	netBind := fmt.Sprintf("%016x", uint64(1)<<unix.CAP_NET_BIND_SERVICE)
	kept := fmt.Sprintf("%016x", uint64(1)<<unix.CAP_NET_BIND_SERVICE|1<<unix.CAP_CHOWN)
	for _, want := range []string{
		"uid=65532 gid=65532", "groups=[2000 65532]",
		"CapEff: " + netBind, "CapAmb: " + netBind, "CapBnd: " + kept, "NoNewPrivs: 1",
		"wd=/work", "hostname=pod-a", `volume="secret" err=<nil>`, "rootwrite=true", "devnull=true", "env=yes",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(lower, "written")); err == nil {
		t.Error("the container wrote into the image")
	}
}
