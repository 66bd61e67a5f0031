// Package publish writes image indexes (from hack/images/assemble) to an OCI image layout and
// pushes them to a registry.
//
// A layout written by WriteLayout names each index with the annotation
// org.opencontainers.image.ref.name (RefNameAnnotation) set to its full reference, e.g.
// "ghcr.io/agentgateway-go/proxy:v0.1.0"; Indexes reads them back in that order.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefNameAnnotation names an index inside a layout (OCI image-spec, annotations.md).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Named is an index with the reference it is stored under.
type Named struct {
	Ref   string
	Index v1.ImageIndex
}

// WriteLayout adds idx to the OCI layout in dir under the reference ref, replacing an index
// of the same reference. It creates the layout if dir has none.
func WriteLayout(dir string, idx v1.ImageIndex, ref string) error {
	p, err := layout.FromPath(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create layout dir: %w", err)
		}
		p, err = layout.Write(dir, mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	}
	if err != nil {
		return fmt.Errorf("open layout %s: %w", dir, err)
	}
	if err := p.ReplaceIndex(idx, match.Annotation(RefNameAnnotation, ref),
		layout.WithAnnotations(map[string]string{RefNameAnnotation: ref})); err != nil {
		return fmt.Errorf("write %s to layout %s: %w", ref, dir, err)
	}
	return nil
}

// Indexes returns the named indexes of the layout in dir, in index.json order.
func Indexes(dir string) ([]Named, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("open layout %s: %w", dir, err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read layout %s: %w", dir, err)
	}
	m, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read layout %s: %w", dir, err)
	}
	var out []Named
	for _, d := range m.Manifests {
		ref := d.Annotations[RefNameAnnotation]
		if ref == "" {
			return nil, fmt.Errorf("layout %s: manifest %s has no %s annotation", dir, d.Digest, RefNameAnnotation)
		}
		if !d.MediaType.IsIndex() {
			return nil, fmt.Errorf("layout %s: %s is %s, want an image index", dir, ref, d.MediaType)
		}
		idx, err := root.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("layout %s: read %s: %w", dir, ref, err)
		}
		out = append(out, Named{Ref: ref, Index: idx})
	}
	return out, nil
}

// ImageName is the last path element of ref without tag or digest ("proxy" for
// "ghcr.io/agentgateway-go/proxy:v1").
func ImageName(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", ref, err)
	}
	return path.Base(r.Context().RepositoryStr()), nil
}

// Push uploads idx (all platforms, layers first) to ref, e.g.
// "10.244.0.1:5000/agentgateway-go/proxy:dev", and returns the pushed digest reference.
// insecure allows plain HTTP (a local registry); credentials come from the Docker config
// keychain ($DOCKER_CONFIG), anonymous when it has none.
func Push(ctx context.Context, idx v1.ImageIndex, ref string, insecure bool) (name.Digest, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("parse %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return name.Digest{}, fmt.Errorf("push %s: %w", ref, err)
	}
	h, err := idx.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("digest of %s: %w", ref, err)
	}
	d, err := name.NewDigest(r.Context().Name()+"@"+h.String(), opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("digest reference of %s: %w", ref, err)
	}
	return d, nil
}

// RepoRef joins a repository prefix, an image name and a tag: RepoRef("10.244.0.1:5000/x",
// "proxy", "dev") is "10.244.0.1:5000/x/proxy:dev".
func RepoRef(repo, image, tag string) string {
	return strings.TrimSuffix(repo, "/") + "/" + image + ":" + tag
}
