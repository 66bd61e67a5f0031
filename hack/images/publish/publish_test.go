package publish_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
	"github.com/agentgateway/agentgateway-go/hack/images/internal/standin"
	"github.com/agentgateway/agentgateway-go/hack/images/publish"
)

func testIndex(t *testing.T, version string) v1.ImageIndex {
	t.Helper()
	bins := standin.Binaries(t)
	var bs []assemble.Binary
	for _, p := range standin.Platforms {
		bs = append(bs, assemble.Binary{Platform: p, Source: bins[p]})
	}
	idx, err := assemble.Index(assemble.Image{
		Path: "/standin", Binaries: bs,
		Meta: assemble.Metadata{Source: "https://example.test/repo", Revision: "abc", Version: version, Created: time.Unix(1_800_000_000, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func digest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLayoutRoundTrip(t *testing.T) {
	dir := t.TempDir()
	a, b := testIndex(t, "v1"), testIndex(t, "v2")
	if err := publish.WriteLayout(dir, a, "example.test/x/alpha:v1"); err != nil {
		t.Fatal(err)
	}
	if err := publish.WriteLayout(dir, b, "example.test/x/beta:v2"); err != nil {
		t.Fatal(err)
	}
	// Writing the same reference again replaces the entry instead of adding one.
	if err := publish.WriteLayout(dir, a, "example.test/x/alpha:v1"); err != nil {
		t.Fatal(err)
	}
	named, err := publish.Indexes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(named) != 2 {
		t.Fatalf("layout has %d indexes, want 2", len(named))
	}
	got := map[string]v1.Hash{}
	for _, n := range named {
		got[n.Ref] = digest(t, n.Index)
	}
	if got["example.test/x/alpha:v1"] != digest(t, a) || got["example.test/x/beta:v2"] != digest(t, b) {
		t.Errorf("layout digests %v", got)
	}
}

func TestPushToRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	idx := testIndex(t, "v1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref := publish.RepoRef(host+"/agentgateway-go/", "standin", "dev")
	if ref != host+"/agentgateway-go/standin:dev" {
		t.Fatalf("RepoRef = %q", ref)
	}
	// go-containerregistry speaks plain HTTP to loopback registries even without insecure;
	// the flag matters for the local cluster's bridge address.
	d, err := publish.Push(ctx, idx, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.DigestStr() != digest(t, idx).String() || d.Context().Name() != host+"/agentgateway-go/standin" {
		t.Errorf("pushed %s, want digest %s", d, digest(t, idx))
	}

	tag, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(tag, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, pulled) != digest(t, idx) {
		t.Errorf("pulled %s, pushed %s", digest(t, pulled), digest(t, idx))
	}
	m, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("pulled index has %d manifests", len(m.Manifests))
	}
	// Pull every platform's image by digest and read its layers back.
	for _, desc := range m.Manifests {
		im, err := remote.Image(d.Context().Digest(desc.Digest.String()), remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := im.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != assemble.User || cf.Architecture != desc.Platform.Architecture {
			t.Errorf("%s: user %q arch %q", desc.Platform, cf.Config.User, cf.Architecture)
		}
		layers, err := im.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestImageName(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/agentgateway-go/proxy:v1":                       "proxy",
		"10.244.0.1:5000/a/b/operator:dev":                       "operator",
		"localhost:5000/proxy@sha256:" + strings.Repeat("a", 64): "proxy",
	} {
		got, err := publish.ImageName(ref)
		if err != nil || got != want {
			t.Errorf("ImageName(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := publish.ImageName("UPPER/case:x"); err == nil {
		t.Error("invalid reference accepted")
	}
}
