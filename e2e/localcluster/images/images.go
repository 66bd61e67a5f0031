// Package images maps container images to local binaries: the local cluster has no container
// runtime, so an image is only a name for a Go program built from this repository or from a
// pinned tools module. Table is the one place that says which images the cluster can run.
//
// Binaries from this repository (operator, proxy) are rebuilt on first use by each node agent
// run, so a pod always runs the code in the working tree; binaries of pinned tools modules are
// cached by module version across runs.
package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Entry maps an image repository (any tag or digest) to a Go main package.
type Entry struct {
	// Repository is the image name without tag or digest.
	Repository string
	// ModuleDir is where `go build` runs, relative to the repository root.
	ModuleDir string
	// Package is the main package to build.
	Package string
	// Binary names the built file; equal names share one build.
	Binary string
	// Entrypoints are paths the real image's entrypoint has; a container `command` that names
	// one of them runs the built binary.
	Entrypoints []string
	// Fresh means rebuild once per node agent run (code of this repository).
	Fresh bool
}

// HostImage runs container commands from the host's PATH inside the pod's namespaces (for
// test clients: curl, sleep, getent). It has no entrypoint: `command` is required.
const HostImage = "local.agentgateway.dev/host"

// Table lists every image the local cluster can run.
var Table = []Entry{
	{Repository: "ghcr.io/agentgateway-go/operator", ModuleDir: ".", Package: "./operator/cmd/operator", Binary: "operator", Entrypoints: []string{"/operator", "/manager"}, Fresh: true},
	{Repository: "ghcr.io/agentgateway-go/proxy", ModuleDir: ".", Package: "./proxy/cmd/proxy", Binary: "proxy", Entrypoints: []string{"/proxy"}, Fresh: true},
	// The conformance echo server in all its modes (HTTP, TLS on 8443, gRPC, TCP/UDP by env).
	{Repository: "registry.k8s.io/gateway-api/echo-basic", ModuleDir: "hack/tools/echo", Package: "sigs.k8s.io/gateway-api/conformance/echo-basic", Binary: "echo-basic", Entrypoints: []string{"/echo-basic", "echo-basic"}},
	{Repository: "gcr.io/k8s-staging-gateway-api/echo-basic", ModuleDir: "hack/tools/echo", Package: "sigs.k8s.io/gateway-api/conformance/echo-basic", Binary: "echo-basic", Entrypoints: []string{"/echo-basic", "echo-basic"}},
	{Repository: "registry.k8s.io/coredns/coredns", ModuleDir: "hack/tools/coredns", Package: "github.com/coredns/coredns", Binary: "coredns", Entrypoints: []string{"/coredns", "coredns"}},
}

// ErrUnknownImage says an image is not in Table.
var ErrUnknownImage = errors.New("image is not in the local cluster's image table (e2e/localcluster/images)")

// Repository strips the tag and digest of an image reference.
func Repository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		image = image[:i]
	}
	return image
}

// Lookup finds the table entry of image.
func Lookup(image string) (Entry, bool) {
	repo := Repository(image)
	for _, e := range Table {
		if e.Repository == repo {
			return e, true
		}
	}
	return Entry{}, false
}

// Builder builds and caches the binaries of Table.
type Builder struct {
	RepoRoot string
	CacheDir string // e.g. ~/.cache/agentgateway-go/images
	Log      func(format string, args ...any)

	mu    sync.Mutex
	built map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Resolve returns the binary for image, building it if needed. Concurrent calls for the same
// binary share one build.
func (b *Builder) Resolve(ctx context.Context, image string) (string, error) {
	e, ok := Lookup(image)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownImage, image)
	}
	b.mu.Lock()
	if b.built == nil {
		b.built = map[string]*build{}
	}
	bl := b.built[e.Binary]
	if bl == nil {
		bl = &build{}
		b.built[e.Binary] = bl
	}
	b.mu.Unlock()
	bl.once.Do(func() { bl.path, bl.err = b.build(ctx, e) })
	if bl.err != nil {
		// Let the next pod retry: the tree may have been fixed meanwhile.
		b.mu.Lock()
		delete(b.built, e.Binary)
		b.mu.Unlock()
	}
	return bl.path, bl.err
}

func (b *Builder) build(ctx context.Context, e Entry) (string, error) {
	out := filepath.Join(b.CacheDir, e.Binary)
	if !e.Fresh {
		if _, err := os.Stat(out); err == nil {
			return out, nil
		}
	}
	modDir := filepath.Join(b.RepoRoot, e.ModuleDir)
	if e.Fresh {
		if _, err := os.Stat(filepath.Join(modDir, strings.TrimPrefix(e.Package, "./"))); err != nil {
			return "", fmt.Errorf("image %s needs %s, which does not exist in %s yet", e.Repository, e.Package, b.RepoRoot)
		}
	}
	if err := os.MkdirAll(b.CacheDir, 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	if b.Log != nil {
		b.Log("building %s from %s (%s)...", e.Binary, e.Package, e.ModuleDir)
	}
	tmp := out + ".tmp"
	// No -trimpath: a plain build shares the Go build cache with `go build ./...`, so a pod
	// start after a normal build links in seconds instead of recompiling every dependency.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, e.Package)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s for image %s: %w\n%s", e.Package, e.Repository, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	if b.Log != nil {
		b.Log("built %s in %s", e.Binary, time.Since(start).Round(time.Second))
	}
	return out, nil
}

// Command returns argv for a container: the image's binary with args, or command (whose
// first element may name the image's entrypoint) with args. Host-image commands resolve
// through the host PATH.
func Command(e Entry, bin string, command, args []string) ([]string, error) {
	if len(command) == 0 {
		return append([]string{bin}, args...), nil
	}
	argv := append(append([]string{}, command...), args...)
	for _, ep := range e.Entrypoints {
		if command[0] == ep || filepath.Base(command[0]) == filepath.Base(ep) {
			argv[0] = bin
			return argv, nil
		}
	}
	// Images often start through a shell or a helper on PATH; use the host's.
	p, err := exec.LookPath(command[0])
	if err != nil {
		return nil, fmt.Errorf("command %q is neither the entrypoint of %s nor on the host PATH", command[0], e.Repository)
	}
	argv[0] = p
	return argv, nil
}
