package assemble_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
	"github.com/agentgateway/agentgateway-go/hack/images/internal/standin"
)

var created = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func testImage(t *testing.T) assemble.Image {
	bins := standin.Binaries(t)
	return assemble.Image{
		Path: "/standin",
		Binaries: []assemble.Binary{
			{Platform: "linux/amd64", Source: bins["linux/amd64"]},
			{Platform: "linux/arm64", Source: bins["linux/arm64"]},
		},
		Meta: assemble.Metadata{Source: "https://example.test/repo", Revision: "abc123", Version: "v0.0.1", Created: created},
	}
}

type entry struct {
	mode     int64
	uid, gid int
	typ      byte
	size     int64
	mtime    time.Time
}

// files reads every layer of im (base first) into a map keyed by path.
func files(t *testing.T, im v1.Image) map[string]entry {
	t.Helper()
	layers, err := im.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if h.Uname != "" || h.Gname != "" {
				t.Errorf("%s: user/group names %q/%q in tar header", h.Name, h.Uname, h.Gname)
			}
			out["/"+strings.TrimSuffix(h.Name, "/")] = entry{mode: h.Mode, uid: h.Uid, gid: h.Gid, typ: h.Typeflag, size: h.Size, mtime: h.ModTime}
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(names) {
			t.Errorf("layer entries not sorted: %v", names)
		}
	}
	return out
}

func TestIndexConfigFilesAndPlatforms(t *testing.T) {
	idx, err := assemble.Index(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %s", m.MediaType)
	}
	if m.Annotations[assemble.LabelRevision] != "abc123" || m.Annotations[assemble.LabelCreated] != "2026-12-07T12:00:00Z" {
		t.Errorf("index annotations %v", m.Annotations)
	}
	var platforms []string
	var baseDigests []v1.Hash
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.String())
		im, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := im.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if d.Platform.Architecture != cf.Architecture || cf.OS != "linux" {
			t.Errorf("descriptor platform %s, config %s/%s", d.Platform, cf.OS, cf.Architecture)
		}
		c := cf.Config
		if c.User != "65532:65532" || !reflect.DeepEqual(c.Entrypoint, []string{"/standin"}) || c.WorkingDir != "/" {
			t.Errorf("config user %q entrypoint %q workdir %q", c.User, c.Entrypoint, c.WorkingDir)
		}
		if !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
			t.Errorf("env %v", c.Env)
		}
		want := map[string]string{
			assemble.LabelSource: "https://example.test/repo", assemble.LabelRevision: "abc123",
			assemble.LabelVersion: "v0.0.1", assemble.LabelCreated: "2026-12-07T12:00:00Z",
		}
		if !reflect.DeepEqual(c.Labels, want) {
			t.Errorf("labels %v, want %v", c.Labels, want)
		}
		if !cf.Created.Time.Equal(created) {
			t.Errorf("created %v", cf.Created)
		}
		mf, err := im.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mf.Annotations, want) {
			t.Errorf("manifest annotations %v", mf.Annotations)
		}
		if len(mf.Layers) != 2 || len(cf.RootFS.DiffIDs) != 2 || len(cf.History) != 2 {
			t.Fatalf("layers %d diff ids %d history %d, want 2 each", len(mf.Layers), len(cf.RootFS.DiffIDs), len(cf.History))
		}
		baseDigests = append(baseDigests, mf.Layers[0].Digest)

		fs := files(t, im)
		var paths []string
		for p, e := range fs {
			paths = append(paths, p)
			if !e.mtime.Equal(created) {
				t.Errorf("%s mtime %v", p, e.mtime)
			}
		}
		slices.Sort(paths)
		wantPaths := []string{"/etc", "/etc/group", "/etc/passwd", "/etc/ssl", "/etc/ssl/certs", "/etc/ssl/certs/ca-certificates.crt", "/home", "/home/nonroot", "/standin", "/tmp"}
		if !slices.Equal(paths, wantPaths) {
			t.Errorf("files %v, want %v (no shell, nothing else)", paths, wantPaths)
		}
		if e := fs["/tmp"]; e.typ != tar.TypeDir || e.mode != 0o1777 {
			t.Errorf("/tmp type %c mode %o, want dir 1777", e.typ, e.mode)
		}
		if e := fs["/home/nonroot"]; e.uid != 65532 || e.gid != 65532 {
			t.Errorf("/home/nonroot owned by %d:%d", e.uid, e.gid)
		}
		if e := fs["/standin"]; e.typ != tar.TypeReg || e.mode != 0o755 || e.uid != 0 {
			t.Errorf("/standin type %c mode %o uid %d", e.typ, e.mode, e.uid)
		}
		if st, err := os.Stat(assemble.HostCABundle); err != nil || fs[assemble.CABundle].size != st.Size() {
			t.Errorf("CA bundle size %d, host %v %v", fs[assemble.CABundle].size, st, err)
		}
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", platforms)
	}
	if baseDigests[0] != baseDigests[1] {
		t.Errorf("base layer differs between platforms: %v", baseDigests)
	}
}

func TestIndexReproducible(t *testing.T) {
	a, err := assemble.Index(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := assemble.Index(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	da, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if da != db {
		t.Errorf("two assemblies of the same inputs: %s and %s", da, db)
	}
	img := testImage(t)
	img.Meta.Created = created.Add(time.Second)
	c, err := assemble.Index(img)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if dc == da {
		t.Errorf("a different created time gave the same digest %s", dc)
	}
}

func TestPasswdAndGroup(t *testing.T) {
	fs, err := assemble.BaseFiles("")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range fs {
		got[f.Path] = string(f.Data)
	}
	if !strings.Contains(got["/etc/passwd"], "nonroot:x:65532:65532:") || !strings.HasPrefix(got["/etc/passwd"], "root:x:0:0:") {
		t.Errorf("passwd:\n%s", got["/etc/passwd"])
	}
	if !strings.Contains(got["/etc/group"], "nonroot:x:65532:") {
		t.Errorf("group:\n%s", got["/etc/group"])
	}
}

func TestErrors(t *testing.T) {
	img := testImage(t)
	img.CABundle = filepath.Join(t.TempDir(), "missing.crt")
	if _, err := assemble.Index(img); err == nil || !strings.Contains(err.Error(), "install Debian's ca-certificates") {
		t.Errorf("missing CA bundle: %v", err)
	}
	img = testImage(t)
	img.Binaries = append(img.Binaries, img.Binaries[0])
	if _, err := assemble.Index(img); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate platform: %v", err)
	}
	img = testImage(t)
	img.Meta.Created = time.Time{}
	if _, err := assemble.Index(img); err == nil || !strings.Contains(err.Error(), "created time") {
		t.Errorf("zero created: %v", err)
	}
	img = testImage(t)
	img.Path = "relative"
	if _, err := assemble.Index(img); err == nil {
		t.Error("relative path accepted")
	}
	if _, err := assemble.NewLayer([]assemble.File{{Path: "/a/../b", Data: []byte("x")}}, created); err == nil {
		t.Error("unclean path accepted")
	}
	if _, err := assemble.NewLayer([]assemble.File{{Path: "/a", Data: []byte("x")}, {Path: "/a/b", Data: []byte("y")}}, created); err == nil {
		t.Error("file under a file accepted")
	}
}

func TestBasePathsMatchBaseFiles(t *testing.T) {
	fs, err := assemble.BaseFiles("")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Path)
	}
	slices.Sort(got)
	if !slices.Equal(got, assemble.BasePaths()) {
		t.Errorf("BaseFiles paths %v, BasePaths %v", got, assemble.BasePaths())
	}
}
