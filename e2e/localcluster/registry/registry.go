// Package registry is the local cluster's OCI registry and the mirror mapping the node uses
// to reach it.
//
// The registry is go-containerregistry's (pkg/registry) with blobs on disk, served over plain
// HTTP on the node address only. Its blob directory lives in the cache, not in the cluster
// state, so a warm `up` pushes manifests but finds every unchanged layer already there.
// Manifests live in the registry's memory: each `up` pushes them again.
//
// The mirror mapping has containerd's layout (certs.d/<upstream>/hosts.toml): each upstream
// registry (ghcr.io, registry.k8s.io, gcr.io) names this registry as its only host, and a
// reference keeps its repository path and tag or digest. A registry with no mapping is not
// pulled from at all: pods never reach outside the machine.
package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Header carries the token of the registry process on every answer, so a readiness check
// knows it talks to the registry it started and not to another program on the port.
const Header = "Agw-Local-Registry"

// Upstreams are the registries whose images the local registry serves under their own names.
var Upstreams = []string{"ghcr.io", "registry.k8s.io", "gcr.io"}

// Handler serves the registry with blobs under blobDir, stamping every answer with token.
func Handler(blobDir, token string) (http.Handler, error) {
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	h := ggcrregistry.New(ggcrregistry.WithBlobHandler(ggcrregistry.NewDiskBlobHandler(blobDir)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(Header, token)
		h.ServeHTTP(w, r)
	}), nil
}

// Serve runs the registry on addr until ctx ends.
func Serve(ctx context.Context, addr, blobDir, token string) error {
	h, err := Handler(blobDir, token)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) //nolint:errcheck // best effort on exit; Serve reports the real error
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Ready returns a check that /v2/ on addr answers 200 with token in Header.
func Ready(addr, token string) func(context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("registry %s: /v2/: %s", addr, resp.Status)
		}
		if got := resp.Header.Get(Header); got != token {
			return fmt.Errorf("registry %s: /v2/ answered by another server (no matching %s header)", addr, Header)
		}
		return nil
	}
}

// WriteHosts writes dir/<upstream>/hosts.toml for each upstream, naming mirror (host:port,
// plain HTTP) as its only host.
func WriteHosts(dir, mirror string, upstreams []string) error {
	for _, u := range upstreams {
		d := filepath.Join(dir, u)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		conf := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "https://"+u, "http://"+mirror)
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(conf), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Mirrors maps an upstream registry host to the host:port that serves it over plain HTTP.
type Mirrors map[string]string

// ErrNoMirror says a reference names a registry the node does not pull from.
var ErrNoMirror = errors.New("no mirror for this registry")

// LoadMirrors reads every dir/<upstream>/hosts.toml. Only the first [host."http://..."] table
// of each file is used; any other host scheme is an error, since the node pulls only from the
// local registry.
func LoadMirrors(dir string) (Mirrors, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read mirror config: %w", err)
	}
	m := Mirrors{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), "hosts.toml")
		host, err := firstHost(path)
		if err != nil {
			return nil, err
		}
		m[e.Name()] = host
	}
	return m, nil
}

func firstHost(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close() //nolint:errcheck // read only: closing releases it
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "[host.\"")
		if !ok {
			continue
		}
		url, ok := strings.CutSuffix(rest, "\"]")
		if !ok {
			return "", fmt.Errorf("%s: malformed host table %q", path, line)
		}
		host, ok := strings.CutPrefix(url, "http://")
		if !ok {
			return "", fmt.Errorf("%s: host %q: only plain-HTTP local mirrors are supported", path, url)
		}
		return strings.TrimSuffix(host, "/"), nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no [host.\"...\"] table", path)
}

// Rewrite returns ref with its registry replaced by the mirror, repository path and tag or
// digest kept. The result is marked insecure (plain HTTP).
func (m Mirrors) Rewrite(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	up := r.Context().RegistryStr()
	mirror, ok := m[up]
	if !ok {
		return nil, fmt.Errorf("%w: %q (image %q); the local node pulls only from the local registry", ErrNoMirror, up, ref)
	}
	return name.ParseReference(mirror+"/"+r.Context().RepositoryStr()+sep(r)+r.Identifier(), name.Insecure)
}

func sep(r name.Reference) string {
	if _, ok := r.(name.Digest); ok {
		return "@"
	}
	return ":"
}
