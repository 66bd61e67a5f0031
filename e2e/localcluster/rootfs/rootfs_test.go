package rootfs

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

type tarEntry struct {
	name, link string
	typ        byte
	mode       int64
	data       string
}

func layer(t *testing.T, entries ...tarEntry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.data)), Uid: 65532, Gid: 65532}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestApplyHandlesWhiteoutsAndStaysInside(t *testing.T) {
	dir := t.TempDir()
	if err := Apply(dir, layer(t,
		tarEntry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "etc/passwd", typ: tar.TypeReg, data: "root"},
		tarEntry{name: "etc/gone", typ: tar.TypeReg, data: "x"},
		tarEntry{name: "opq/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "opq/lower", typ: tar.TypeReg, data: "x"},
		tarEntry{name: "bin/app", typ: tar.TypeReg, mode: 0o755, data: "#!"},
		tarEntry{name: "app", typ: tar.TypeSymlink, link: "/bin/app"},
	)); err != nil {
		t.Fatal(err)
	}
	if err := Apply(dir, layer(t,
		tarEntry{name: "etc/.wh.gone", typ: tar.TypeReg},
		tarEntry{name: "opq/upper", typ: tar.TypeReg, data: "y"},
		tarEntry{name: "opq/.wh..wh..opq", typ: tar.TypeReg},
		tarEntry{name: "../escape", typ: tar.TypeReg, data: "z"},
	)); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"etc/passwd": true, "etc/gone": false, "opq/lower": false, "opq/upper": true, "escape": true,
	} {
		_, err := os.Lstat(filepath.Join(dir, path))
		if got := err == nil; got != want {
			t.Errorf("%s present = %v, want %v", path, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a layer wrote outside the root")
	}
	if l, err := os.Readlink(filepath.Join(dir, "app")); err != nil || l != "/bin/app" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "bin", "app"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/app mode %v, %v", fi, err)
	}
	// Ownership needs root (the node agent's case).
	if st, ok := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (!ok || st.Uid != 65532 || st.Gid != 65532) {
		t.Errorf("bin/app owner = %+v, want 65532:65532", fi.Sys())
	}
}
