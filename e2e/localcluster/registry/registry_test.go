package registry

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushThroughMirrorAndPullBack(t *testing.T) {
	h, err := Handler(t.TempDir(), "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	if err := Ready(host, "tok-1")(ctx); err != nil {
		t.Fatalf("Ready with the right token: %v", err)
	}
	if err := Ready(host, "other")(ctx); err == nil {
		t.Fatal("Ready accepted a registry with another token")
	}

	dir := t.TempDir()
	if err := WriteHosts(dir, host, Upstreams); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMirrors(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := m.Rewrite("registry.k8s.io/gateway-api/conformance/echo-basic:v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ref.String(), host+"/gateway-api/conformance/echo-basic:v0.1.0"; got != want {
		t.Fatalf("Rewrite = %s, want %s", got, want)
	}
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	byDigest, err := m.Rewrite("registry.k8s.io/gateway-api/conformance/echo-basic@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(byDigest, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if gd, err := got.Digest(); err != nil || gd != d {
		t.Fatalf("pulled digest %v, %v; want %v", gd, err, d)
	}
	if _, err := m.Rewrite("docker.io/library/busybox:1"); err == nil {
		t.Fatal("Rewrite of an unmapped registry succeeded")
	}
}

func TestLoadMirrorsRejectsRemoteHosts(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ghcr.io"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "server = \"https://ghcr.io\"\n[host.\"https://ghcr.io\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "ghcr.io", "hosts.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMirrors(dir); err == nil || !strings.Contains(err.Error(), "only plain-HTTP local mirrors") {
		t.Fatalf("LoadMirrors = %v, want a rejection of the https host", err)
	}
}
