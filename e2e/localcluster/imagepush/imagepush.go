// Package imagepush builds the images the local cluster runs and pushes them to its registry
// under their upstream names: our operator and proxy from the working tree, and the
// third-party images the tests and the conformance suite name (the echo server, CoreDNS),
// built from the Go modules pinned in hack/tools. Images are assembled by hack/images/assemble
// for the host's platform only.
//
// Builds are cached by content: `go build` reuses the Go build cache, and an assembled image is
// kept in an OCI layout under the cache keyed by the binary's digest, so an unchanged binary is
// neither compressed nor uploaded again (the registry's blob directory persists too).
package imagepush

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/registry"
	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
	"github.com/agentgateway/agentgateway-go/hack/images/publish"
)

// Source is one program and the references its image is pushed under.
type Source struct {
	Refs []string
	// ModuleDir is where `go build` runs, relative to the repository root.
	ModuleDir string
	Package   string
	// Path is the binary's path in the image (its entrypoint).
	Path string
	// URL is the org.opencontainers.image.source of the image.
	URL string
}

// Echo names the conformance echo server that tests and the conformance suite (v1.7.0) run;
// CoreDNS is the cluster DNS, run on the node from the binary built for its image.
var (
	Echo    = "registry.k8s.io/gateway-api/conformance/echo-basic:v0.1.0"
	CoreDNS = "registry.k8s.io/coredns/coredns:v1.12.2"
)

// echoV020 is the tag the v1.7.0 suite's udp-echo Deployment names. The Go module proxy does
// not serve sigs.k8s.io/gateway-api-conformance-images v0.2.0 (403), so the image under this
// tag is built from v0.1.0, whose UDP echo server (UDP_ECHO_SERVER) answers with the JSON
// envelope (request, namespace, service, pod) that the suite's utils/udp reads.
const echoV020 = "registry.k8s.io/gateway-api/conformance/echo-basic:v0.2.0"

// Sources lists every image the local registry holds. The echo server's tags are those in the
// conformance module's manifests and in e2e/localcluster.
var Sources = []Source{
	{Refs: []string{"ghcr.io/agentgateway-go/operator:dev"}, ModuleDir: ".", Package: "./operator/cmd/operator", Path: "/operator",
		URL: "https://github.com/agentgateway/agentgateway-go"},
	{Refs: []string{"ghcr.io/agentgateway-go/proxy:dev"}, ModuleDir: ".", Package: "./proxy/cmd/proxy", Path: "/proxy",
		URL: "https://github.com/agentgateway/agentgateway-go"},
	{Refs: []string{Echo, echoV020},
		ModuleDir: "hack/tools/echo", Package: "sigs.k8s.io/gateway-api-conformance-images/echo-basic", Path: "/echo-basic",
		URL: "https://github.com/kubernetes-sigs/gateway-api-conformance-images"},
	{Refs: []string{CoreDNS}, ModuleDir: "hack/tools/coredns", Package: "github.com/coredns/coredns", Path: "/coredns",
		URL: "https://github.com/coredns/coredns"},
}

// Options says where to build and push.
type Options struct {
	RepoRoot string
	CacheDir string // binaries and the OCI layout of assembled images
	Mirrors  registry.Mirrors
	Logf     func(format string, args ...any)
}

// Push builds every Source and pushes it through o.Mirrors.
func Push(ctx context.Context, o Options) error {
	created, err := commitTime(o.RepoRoot)
	if err != nil {
		return err
	}
	for _, s := range Sources {
		start := time.Now()
		idx, cached, err := build(ctx, o, s, created)
		if err != nil {
			return err
		}
		for _, ref := range s.Refs {
			target, err := o.Mirrors.Rewrite(ref)
			if err != nil {
				return err
			}
			if _, err := publish.Push(ctx, idx, target.String(), true); err != nil {
				return err
			}
		}
		how := "built"
		if cached {
			how = "cached"
		}
		o.Logf("image %s (%s) pushed in %s", strings.Join(s.Refs, ", "), how, time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

// build compiles s for the host and returns its assembled index, from the layout cache when
// the binary is unchanged.
func build(ctx context.Context, o Options, s Source, created time.Time) (v1.ImageIndex, bool, error) {
	bin := BinaryPath(o.CacheDir, s.Path)
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return nil, false, err
	}
	// No -trimpath: the build then shares the Go build cache with `go build ./...`.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, s.Package)
	cmd.Dir = filepath.Join(o.RepoRoot, s.ModuleDir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, false, fmt.Errorf("build %s (%s): %w\n%s", s.Package, s.ModuleDir, err, out)
	}
	sum, err := fileDigest(bin)
	if err != nil {
		return nil, false, err
	}
	layoutDir := filepath.Join(o.CacheDir, "layout")
	key := "local/" + path.Base(s.Path) + ":" + sum[:32]
	if named, err := publish.Indexes(layoutDir); err == nil {
		for _, n := range named {
			if n.Ref == key {
				return n.Index, true, nil
			}
		}
	}
	idx, err := assemble.Index(assemble.Image{
		Path:     s.Path,
		Binaries: []assemble.Binary{{Platform: "linux/" + runtime.GOARCH, Source: bin}},
		Meta:     assemble.Metadata{Source: s.URL, Created: created},
	})
	if err != nil {
		return nil, false, fmt.Errorf("assemble %s: %w", s.Path, err)
	}
	if err := publish.WriteLayout(layoutDir, idx, key); err != nil {
		return nil, false, err
	}
	return idx, false, nil
}

// BinaryPath is where Push leaves the host binary of the image whose program is at imagePath
// (CoreDNS also runs from it as a host process).
func BinaryPath(cacheDir, imagePath string) string {
	return filepath.Join(cacheDir, "bin", runtime.GOARCH, path.Base(imagePath))
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close() //nolint:errcheck // read only: closing releases it
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// commitTime is the time of the checkout's HEAD commit, the images' created time.
func commitTime(repoRoot string) (time.Time, error) {
	out, err := exec.Command("git", "-C", repoRoot, "log", "-1", "--format=%ct").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("read HEAD commit time: %w", err)
	}
	s, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse HEAD commit time: %w", err)
	}
	return time.Unix(s, 0).UTC(), nil
}

// PushVersion pushes the image of the program at imagePath ("/operator", "/proxy"), from the
// binary Push last built, again under ref with the org.opencontainers.image.version label set
// to version: the same program in an image with another digest, as a release of a changed
// tree has. It returns the digest of the pushed index.
func PushVersion(ctx context.Context, o Options, imagePath, version, ref string) (string, error) {
	var src *Source
	for i := range Sources {
		if Sources[i].Path == imagePath {
			src = &Sources[i]
		}
	}
	if src == nil {
		return "", fmt.Errorf("no image source for %s", imagePath)
	}
	bin := BinaryPath(o.CacheDir, imagePath)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("binary of %s (built by Push): %w", imagePath, err)
	}
	created, err := commitTime(o.RepoRoot)
	if err != nil {
		return "", err
	}
	idx, err := assemble.Index(assemble.Image{
		Path:     imagePath,
		Binaries: []assemble.Binary{{Platform: "linux/" + runtime.GOARCH, Source: bin}},
		Meta:     assemble.Metadata{Source: src.URL, Version: version, Created: created},
	})
	if err != nil {
		return "", fmt.Errorf("assemble %s: %w", imagePath, err)
	}
	target, err := o.Mirrors.Rewrite(ref)
	if err != nil {
		return "", err
	}
	d, err := publish.Push(ctx, idx, target.String(), true)
	if err != nil {
		return "", err
	}
	return d.DigestStr(), nil
}
