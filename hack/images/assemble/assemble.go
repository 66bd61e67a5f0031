// Package assemble builds multi-platform OCI images from static binaries, without Docker and
// without pulling a base image: every image is a shared base layer (BaseFiles: /etc/passwd
// and /etc/group with root and nonroot (65532), the host's Debian CA bundle, /tmp and
// /home/nonroot; no shell, no other programs) plus one layer holding the binary.
//
// Index turns per-platform binaries and Metadata into a v1.ImageIndex that can be written to
// an OCI layout (github.com/google/go-containerregistry/pkg/v1/layout) or pushed
// (hack/images/publish). Images run as 65532:65532 and carry the OCI labels and annotations
// org.opencontainers.image.{source,revision,version,created}. Output is reproducible: equal
// binaries and Metadata give equal digests (sorted tar entries, fixed mtimes and created time,
// no user names in the tar headers).
//
// Example (the binaries must be static, e.g. CGO_ENABLED=0):
//
//	idx, err := assemble.Index(assemble.Image{
//		Path: "/echo-basic",
//		Binaries: []assemble.Binary{
//			{Platform: "linux/amd64", Source: "out/amd64/echo-basic"},
//		},
//		Meta: assemble.Metadata{Source: "https://github.com/kubernetes-sigs/gateway-api-conformance-images", Version: "v0.1.0", Created: t},
//	})
package assemble

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI annotation and label keys set on every image.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
)

// NonRoot is the user and group id images run as ("nonroot" in /etc/passwd).
const NonRoot = 65532

// User is the image config's user: numeric, so Kubernetes' runAsNonRoot can check it.
var User = fmt.Sprintf("%d:%d", NonRoot, NonRoot)

// HostCABundle is where Debian's ca-certificates package puts the bundle copied into the base.
const HostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// CABundle is the bundle's path inside the image (Go's crypto/x509 reads it there, and
// SSL_CERT_FILE names it for other programs).
const CABundle = "/etc/ssl/certs/ca-certificates.crt"

// Env is the environment every image starts with. PATH is "/" because the only program of
// an image lives there.
var Env = []string{"PATH=/", "SSL_CERT_FILE=" + CABundle}

const passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
const group = "root:x:0:\nnonroot:x:65532:\n"

// BasePaths lists the paths of the base layer's entries, sorted.
func BasePaths() []string {
	return []string{"/etc", "/etc/group", "/etc/passwd", "/etc/ssl", "/etc/ssl/certs", CABundle, "/home", "/home/nonroot", "/tmp"}
}

// BaseFiles lists the base layer's entries, reading the CA bundle from caBundle on the host
// (HostCABundle when empty). It fails clearly when the bundle is missing or empty.
func BaseFiles(caBundle string) ([]File, error) {
	if caBundle == "" {
		caBundle = HostCABundle
	}
	ca, err := os.ReadFile(caBundle)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", caBundle, errNoCABundle)
	}
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	if !strings.Contains(string(ca), "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("%s holds no PEM certificate: %w", caBundle, errNoCABundle)
	}
	return []File{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "/etc/ssl", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/ssl/certs", Mode: fs.ModeDir | 0o755},
		{Path: CABundle, Mode: 0o644, Data: ca},
		{Path: "/home", Mode: fs.ModeDir | 0o755},
		{Path: "/home/nonroot", Mode: fs.ModeDir | 0o700, UID: NonRoot, GID: NonRoot},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}, nil
}

// Base builds the shared base layer with every mtime set to created.
func Base(caBundle string, created time.Time) (v1.Layer, error) {
	files, err := BaseFiles(caBundle)
	if err != nil {
		return nil, err
	}
	return NewLayer(files, created)
}

// Metadata describes where an image comes from. Created should be the commit time of the
// sources (SOURCE_DATE_EPOCH), not the build time, so rebuilds are identical.
type Metadata struct {
	Source   string // repository URL
	Revision string // commit
	Version  string
	Created  time.Time
}

// Binary is the static program of one platform.
type Binary struct {
	// Platform is "os/arch" or "os/arch/variant", e.g. "linux/arm64".
	Platform string
	// Source is the binary's path on the build host.
	Source string
}

// Image describes a multi-platform image of one program.
type Image struct {
	// Path is where the binary goes inside the image, e.g. "/proxy". It is the entrypoint
	// unless Entrypoint is set.
	Path string
	// Binaries holds one binary per platform; the index lists them in this order.
	Binaries []Binary
	// Entrypoint defaults to [Path]. Cmd is the default argument list.
	Entrypoint, Cmd []string
	// Env is appended to the package's Env.
	Env []string
	// Labels are added to the OCI labels derived from Meta (config labels and manifest
	// annotations).
	Labels map[string]string
	Meta   Metadata
	// CABundle is the host CA bundle for the base layer (HostCABundle when empty).
	CABundle string
}

// Annotations returns the OCI annotations of meta (also used as config labels). Empty
// fields are left out.
func Annotations(meta Metadata) map[string]string {
	a := map[string]string{LabelCreated: meta.Created.UTC().Format(time.RFC3339)}
	for k, v := range map[string]string{LabelSource: meta.Source, LabelRevision: meta.Revision, LabelVersion: meta.Version} {
		if v != "" {
			a[k] = v
		}
	}
	return a
}

// Index assembles img into an OCI image index with one manifest per platform. All
// manifests share the base layer.
func Index(img Image) (v1.ImageIndex, error) {
	if !strings.HasPrefix(img.Path, "/") || strings.HasSuffix(img.Path, "/") {
		return nil, fmt.Errorf("image path %q must be an absolute file path", img.Path)
	}
	if len(img.Binaries) == 0 {
		return nil, errors.New("image has no binaries")
	}
	if img.Meta.Created.IsZero() {
		return nil, errors.New("image metadata has no created time (use the commit time, SOURCE_DATE_EPOCH)")
	}
	base, err := Base(img.CABundle, img.Meta.Created)
	if err != nil {
		return nil, err
	}
	labels := Annotations(img.Meta)
	maps.Copy(labels, img.Labels)
	entrypoint := img.Entrypoint
	if len(entrypoint) == 0 {
		entrypoint = []string{img.Path}
	}
	created := v1.Time{Time: img.Meta.Created.UTC()}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range img.Binaries {
		p, err := v1.ParsePlatform(b.Platform)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", b.Platform, err)
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", b.Platform)
		}
		if seen[p.String()] {
			return nil, fmt.Errorf("platform %s listed twice", p)
		}
		seen[p.String()] = true
		top, err := NewLayer([]File{{Path: img.Path, Mode: 0o755, Source: b.Source}}, img.Meta.Created)
		if err != nil {
			return nil, fmt.Errorf("%s layer: %w", p, err)
		}
		cfg := &v1.ConfigFile{
			Architecture: p.Architecture,
			OS:           p.OS,
			Variant:      p.Variant,
			Created:      created,
			Config: v1.Config{
				User:       User,
				Entrypoint: slices.Clone(entrypoint),
				Cmd:        slices.Clone(img.Cmd),
				Env:        append(slices.Clone(Env), img.Env...),
				WorkingDir: "/",
				Labels:     maps.Clone(labels),
			},
			RootFS: v1.RootFS{Type: "layers"},
		}
		im := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		im = mutate.ConfigMediaType(im, types.OCIConfigJSON)
		im, err = mutate.ConfigFile(im, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s config: %w", p, err)
		}
		im, err = mutate.Append(im,
			mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "hack/images/assemble: base (passwd, group, CA bundle, /tmp, /home/nonroot)"}},
			mutate.Addendum{Layer: top, History: v1.History{Created: created, CreatedBy: "hack/images/assemble: " + img.Path}},
		)
		if err != nil {
			return nil, fmt.Errorf("%s layers: %w", p, err)
		}
		im = mutate.Annotations(im, labels).(v1.Image)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        im,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}},
		})
	}
	return mutate.Annotations(idx, labels).(v1.ImageIndex), nil
}
