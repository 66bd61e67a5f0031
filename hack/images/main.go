// Command images builds the operator and proxy container images without Docker, writes them
// to an OCI image layout, lints them and pushes them to a registry (make images, make push).
//
//	go run ./hack/images build --out build/oci [--platforms linux/amd64,linux/arm64] [--version V]
//	go run ./hack/images lint --layout build/oci [--platforms ...]
//	go run ./hack/images push --layout build/oci --repo REPO --tag TAG [--insecure]
//
// build compiles static binaries (CGO_ENABLED=0, -trimpath, -buildvcs=false, version and
// revision through -ldflags -X), checks that the host's binary answers --version, and
// assembles one index per image (hack/images/assemble) named
// ghcr.io/agentgateway-go/<name>:<version> in the layout. Created times and mtimes are the
// commit time of HEAD (or $SOURCE_DATE_EPOCH), so a clean tree rebuilds to the same digests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
	"github.com/agentgateway/agentgateway-go/hack/images/inspect"
	"github.com/agentgateway/agentgateway-go/hack/images/publish"
)

// Repository is where released images live; the manifests name images under it
// (manifests/operator/kustomization.yaml, e2e/localcluster/images).
const Repository = "ghcr.io/agentgateway-go"

// SourceURL is the org.opencontainers.image.source label.
const SourceURL = "https://github.com/agentgateway/agentgateway-go"

const versionPkg = "github.com/agentgateway/agentgateway-go/proxy/version"

// program is one image: a main package and where its binary goes.
type program struct {
	name    string // image name and binary name
	pkg     string // main package, relative to the module root
	binPath string // path inside the image (the entrypoint)
}

var programs = []program{
	{name: "operator", pkg: "./operator/cmd/operator", binPath: "/operator"},
	{name: "proxy", pkg: "./proxy/cmd/proxy", binPath: "/proxy"},
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(cmd string, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch cmd {
	case "build":
		return build(ctx, args)
	case "lint", "inspect":
		return lint(args)
	case "push":
		return push(ctx, args)
	}
	usage()
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: images build|lint|inspect|push [flags] (-h for the flags of each)")
	os.Exit(2)
}

func build(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	out := fs.String("out", "build/oci", "OCI layout directory (replaced)")
	binDir := fs.String("bin-dir", "build/bin", "where the per-platform binaries are built")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	version := fs.String("version", "", "image tag and version label (default: git describe --always --dirty)")
	revision := fs.String("revision", "", "revision label (default: git rev-parse HEAD)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("build: unexpected arguments %q", fs.Args())
	}
	var err error
	if *version == "" {
		if *version, err = git(ctx, "describe", "--always", "--dirty"); err != nil {
			return err
		}
	}
	if *revision == "" {
		if *revision, err = git(ctx, "rev-parse", "HEAD"); err != nil {
			return err
		}
	}
	if _, err := name.NewTag(Repository + "/proxy:" + *version); err != nil {
		return fmt.Errorf("--version %q is not a valid image tag: %w", *version, err)
	}
	created, err := sourceDate(ctx)
	if err != nil {
		return err
	}
	plats := splitList(*platforms)
	if len(plats) == 0 {
		return errors.New("--platforms is empty")
	}
	meta := assemble.Metadata{Source: SourceURL, Revision: *revision, Version: *version, Created: created}
	fmt.Printf("images: version %s, revision %s, created %s, platforms %s\n", meta.Version, meta.Revision, created.Format(time.RFC3339), strings.Join(plats, ","))

	bins := map[string][]assemble.Binary{}
	for _, plat := range plats {
		dir, err := goBuild(ctx, plat, *binDir, meta)
		if err != nil {
			return err
		}
		for _, p := range programs {
			bins[p.name] = append(bins[p.name], assemble.Binary{Platform: plat, Source: filepath.Join(dir, p.name)})
		}
	}

	if err := os.RemoveAll(*out); err != nil {
		return fmt.Errorf("remove old layout: %w", err)
	}
	for _, p := range programs {
		start := time.Now()
		idx, err := assemble.Index(assemble.Image{Path: p.binPath, Binaries: bins[p.name], Meta: meta})
		if err != nil {
			return fmt.Errorf("assemble %s: %w", p.name, err)
		}
		ref := Repository + "/" + p.name + ":" + meta.Version
		if err := publish.WriteLayout(*out, idx, ref); err != nil {
			return err
		}
		d, err := idx.Digest()
		if err != nil {
			return fmt.Errorf("digest of %s: %w", ref, err)
		}
		fmt.Printf("images: %s %s (assembled in %s)\n", ref, d, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// goBuild compiles every program for plat into binDir/<os>_<arch>/ and, when plat is the
// host's, checks that each binary answers --version with meta's version.
func goBuild(ctx context.Context, plat, binDir string, meta assemble.Metadata) (string, error) {
	parts := strings.Split(plat, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", fmt.Errorf("platform %q: want os/arch", plat)
	}
	dir, err := filepath.Abs(filepath.Join(binDir, parts[0]+"_"+parts[1]))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Revision=%s", versionPkg, meta.Version, versionPkg, meta.Revision)
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", dir + "/"}
	for _, p := range programs {
		args = append(args, p.pkg)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	// GOFLAGS from the caller could add -race or -cover and change the binaries.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+parts[0], "GOARCH="+parts[1], "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w", plat, err)
	}
	fmt.Printf("images: built %s binaries in %s\n", plat, time.Since(start).Round(time.Millisecond))
	if plat != runtime.GOOS+"/"+runtime.GOARCH {
		return dir, nil
	}
	for _, p := range programs {
		out, err := exec.CommandContext(ctx, filepath.Join(dir, p.name), "--version").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s --version: %w\n%s", p.name, err, out)
		}
		want := p.name + " version " + meta.Version + ", revision " + meta.Revision + ","
		if !strings.HasPrefix(string(out), want) {
			return "", fmt.Errorf("%s --version printed %q, want a line starting %q", p.name, out, want)
		}
		fmt.Printf("images: %s", out)
	}
	return dir, nil
}

func lint(args []string) error {
	fs := flag.NewFlagSet("lint", flag.ExitOnError)
	dir := fs.String("layout", "build/oci", "OCI layout directory")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "platforms every image must have")
	if err := fs.Parse(args); err != nil {
		return err
	}
	named, err := publish.Indexes(*dir)
	if err != nil {
		return err
	}
	if len(named) == 0 {
		return fmt.Errorf("layout %s holds no image", *dir)
	}
	var problems []string
	seen := map[string]bool{}
	for _, n := range named {
		ps, err := inspect.Index(os.Stdout, n.Ref, n.Index, splitList(*platforms))
		if err != nil {
			return err
		}
		problems = append(problems, ps...)
		img, err := publish.ImageName(n.Ref)
		if err != nil {
			return err
		}
		seen[img] = true
	}
	for _, p := range programs {
		if !seen[p.name] {
			problems = append(problems, fmt.Sprintf("layout %s: image %s missing", *dir, p.name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("lint found %d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	fmt.Printf("lint: ok (%d images: non-root numeric user, labels, platforms %s, only base files and the entrypoint)\n", len(named), *platforms)
	return nil
}

func push(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	dir := fs.String("layout", "build/oci", "OCI layout directory")
	repo := fs.String("repo", "", "repository prefix, e.g. 10.244.0.1:5000/agentgateway-go (required)")
	tag := fs.String("tag", "", "tag to push (required)")
	insecure := fs.Bool("insecure", false, "allow a plain-HTTP registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *repo == "" || *tag == "" {
		return errors.New("push: --repo and --tag are required")
	}
	named, err := publish.Indexes(*dir)
	if err != nil {
		return err
	}
	if len(named) == 0 {
		return fmt.Errorf("layout %s holds no image", *dir)
	}
	for _, n := range named {
		img, err := publish.ImageName(n.Ref)
		if err != nil {
			return err
		}
		d, err := publish.Push(ctx, n.Index, publish.RepoRef(*repo, img, *tag), *insecure)
		if err != nil {
			return err
		}
		fmt.Println(d.String())
	}
	return nil
}

// sourceDate is $SOURCE_DATE_EPOCH, or the commit time of HEAD.
func sourceDate(ctx context.Context) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(ctx, "log", "-1", "--format=%ct", "HEAD"); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("source date %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
