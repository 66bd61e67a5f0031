package podinit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRemoveCreatedKeepsNonEmptyDirs(t *testing.T) {
	base := t.TempDir()
	rec := filepath.Join(base, "record")
	a := filepath.Join(base, "a")
	b := filepath.Join(a, "b")
	keep := filepath.Join(base, "keep")
	f, err := os.OpenFile(rec, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := mkdirAll(b, f); err != nil {
		t.Fatal(err)
	}
	if err := mkdirAll(keep, f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keep, "user-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	RemoveCreated(rec)
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("created dir %s left behind", a)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("non-empty dir removed: %v", err)
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Error("record left behind")
	}
}

func TestProgramPathFollowsTheOpenedFile(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(prog, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd) //nolint:errcheck // an O_PATH descriptor: closing only releases it
	if got := programPath(fd, prog); got != prog {
		t.Errorf("path still names the program: got %q", got)
	}
	// Replace the file at the path (as a volume mounted over its directory would hide it).
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, []byte("other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := programPath(fd, prog), fmt.Sprintf("/proc/self/fd/%d", fd); got != want {
		t.Errorf("hidden program: got %q, want %q", got, want)
	}
}
