package podinit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveCreatedKeepsNonEmptyDirs(t *testing.T) {
	base := t.TempDir()
	rec := filepath.Join(base, "record")
	a := filepath.Join(base, "a")
	b := filepath.Join(a, "b")
	keep := filepath.Join(base, "keep")
	if err := mkdirAll(b, rec); err != nil {
		t.Fatal(err)
	}
	if err := mkdirAll(keep, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keep, "user-file"), nil, 0o644); err != nil {
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
