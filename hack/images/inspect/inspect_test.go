package inspect_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
	"github.com/agentgateway/agentgateway-go/hack/images/inspect"
	"github.com/agentgateway/agentgateway-go/hack/images/internal/standin"
)

var created = time.Unix(1_800_000_000, 0).UTC()

func spec(t *testing.T) assemble.Image {
	bins := standin.Binaries(t)
	var bs []assemble.Binary
	for _, p := range standin.Platforms {
		bs = append(bs, assemble.Binary{Platform: p, Source: bins[p]})
	}
	return assemble.Image{Path: "/standin", Binaries: bs,
		Meta: assemble.Metadata{Source: "https://example.test/repo", Revision: "abc", Version: "v1", Created: created}}
}

func build(t *testing.T, img assemble.Image) v1.ImageIndex {
	t.Helper()
	idx, err := assemble.Index(img)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// rebuild applies change to every image of idx and returns a new index of the results.
func rebuild(t *testing.T, idx v1.ImageIndex, change func(v1.Image) v1.Image) v1.ImageIndex {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, d := range m.Manifests {
		im, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: change(im), Descriptor: v1.Descriptor{Platform: d.Platform}})
	}
	return out
}

func lint(t *testing.T, ref string, idx v1.ImageIndex) (string, []string) {
	t.Helper()
	var buf bytes.Buffer
	problems, err := inspect.Index(&buf, ref, idx, standin.Platforms)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), problems
}

func TestGoodImage(t *testing.T) {
	out, problems := lint(t, "example.test/x/standin:v1", build(t, spec(t)))
	if len(problems) != 0 {
		t.Errorf("problems in a good image: %q", problems)
	}
	for _, want := range []string{"linux/amd64", "linux/arm64", `user "65532:65532"`, `entrypoint ["/standin"]`,
		"label org.opencontainers.image.revision=abc", "/etc/passwd", "/standin"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestBadImages(t *testing.T) {
	good := build(t, spec(t))
	withConfig := func(change func(*v1.Config)) func(v1.Image) v1.Image {
		return func(im v1.Image) v1.Image {
			cf, err := im.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config.DeepCopy()
			change(c)
			out, err := mutate.Config(im, *c)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	withFile := func(path string) func(v1.Image) v1.Image {
		return func(im v1.Image) v1.Image {
			l, err := assemble.NewLayer([]assemble.File{{Path: path, Mode: 0o755, Data: []byte("#!")}}, created)
			if err != nil {
				t.Fatal(err)
			}
			out, err := mutate.AppendLayers(im, l)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	swapped := spec(t)
	swapped.Binaries[0].Source, swapped.Binaries[1].Source = swapped.Binaries[1].Source, swapped.Binaries[0].Source
	oneArch := spec(t)
	oneArch.Binaries = oneArch.Binaries[:1]

	for _, tc := range []struct {
		name string
		idx  v1.ImageIndex
		ref  string
		want string
	}{
		{"root user", rebuild(t, good, withConfig(func(c *v1.Config) { c.User = "0:0" })), "", `config user "0:0" is root`},
		{"empty user", rebuild(t, good, withConfig(func(c *v1.Config) { c.User = "" })), "", "config user is empty"},
		{"named user", rebuild(t, good, withConfig(func(c *v1.Config) { c.User = "nonroot" })), "", "not numeric"},
		{"missing label", rebuild(t, good, withConfig(func(c *v1.Config) { delete(c.Labels, assemble.LabelRevision) })), "", "label org.opencontainers.image.revision missing"},
		{"shell", rebuild(t, good, withFile("/bin/sh")), "", "shell /bin/sh in the image"},
		{"stray file", rebuild(t, good, withFile("/usr/bin/curl")), "", "unexpected file /usr/bin/curl"},
		{"wrong architecture", build(t, swapped), "", "does not match architecture"},
		{"missing platform", build(t, oneArch), "", "platform linux/arm64 missing"},
		{"tag differs from version", good, "example.test/x/standin:v2", `differs from the tag "v2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref
			if ref == "" {
				ref = "example.test/x/standin:v1"
			}
			_, problems := lint(t, ref, tc.idx)
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("problems %q, want one containing %q", problems, tc.want)
			}
		})
	}
}
