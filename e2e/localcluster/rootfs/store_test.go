package rootfs

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/registry"
	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
	"github.com/agentgateway/agentgateway-go/hack/images/publish"
)

func TestPullThroughMirrorUnpacksOnce(t *testing.T) {
	h, err := registry.Handler(t.TempDir(), "t")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	mdir := t.TempDir()
	if err := registry.WriteHosts(mdir, host, registry.Upstreams); err != nil {
		t.Fatal(err)
	}
	mirrors, err := registry.LoadMirrors(mdir)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(bin, []byte("not really a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	idx, err := assemble.Index(assemble.Image{
		Path:     "/prog",
		Binaries: []assemble.Binary{{Platform: "linux/" + runtime.GOARCH, Source: bin}},
		Meta:     assemble.Metadata{Created: time.Unix(1, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	target, err := mirrors.Rewrite("ghcr.io/example/prog:v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := publish.Push(ctx, idx, target.String(), true); err != nil {
		t.Fatal(err)
	}
	s := &Store{Dir: t.TempDir(), Mirrors: mirrors}
	img, err := s.Pull(ctx, "ghcr.io/example/prog:v1")
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.User != "65532:65532" || len(img.Config.Entrypoint) != 1 || img.Config.Entrypoint[0] != "/prog" {
		t.Errorf("config = %+v", img.Config)
	}
	for _, p := range []string{"prog", "etc/passwd", "tmp"} {
		if _, err := os.Lstat(filepath.Join(img.Dir, p)); err != nil {
			t.Errorf("unpacked image lacks %s: %v", p, err)
		}
	}
	// A second pull finds the cache: a marker in the root survives.
	if err := os.WriteFile(filepath.Join(img.Dir, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := s.Pull(ctx, "ghcr.io/example/prog:v1")
	if err != nil || again.Digest != img.Digest {
		t.Fatalf("second pull: %v, %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(again.Dir, "marker")); err != nil {
		t.Error("second pull unpacked again")
	}
	if _, err := s.Pull(ctx, "ghcr.io/example/missing:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing image: %v, want ErrNotFound", err)
	}
	if _, err := s.Pull(ctx, "docker.io/library/busybox:1"); !errors.Is(err, registry.ErrNoMirror) {
		t.Errorf("unmapped registry: %v, want ErrNoMirror", err)
	}
}
