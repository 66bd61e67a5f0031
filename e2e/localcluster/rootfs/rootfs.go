// Package rootfs pulls container images from the local registry and unpacks them into cached
// root filesystems, one directory per manifest digest.
//
// A reference resolves through the node's mirror mapping (registry.Mirrors) to the local
// registry; the manifest for the node's platform is chosen from an index; layers are applied
// in order with OCI whiteouts (.wh.<name> removes a lower entry, .wh..wh..opq empties a
// directory of lower content). The result is read only by convention: containers see it as the
// lower directory of an overlay mount and never write to it.
package rootfs

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/registry"
)

// ErrNotFound says the registry has no such image (or no manifest for the node's platform).
var ErrNotFound = errors.New("image not found")

// Image is an unpacked image.
type Image struct {
	// Ref is the reference the pod named; Digest the manifest digest it resolved to.
	Ref    string
	Digest string
	// Dir is the root filesystem.
	Dir    string
	Config v1.Config
}

// Store pulls and caches images under Dir.
type Store struct {
	Dir     string
	Mirrors registry.Mirrors

	mu       sync.Mutex
	inflight map[string]*sync.Mutex
}

// Platform is the node's: the host's architecture.
func Platform() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// Pull resolves ref, and unpacks its image unless the cache has it already.
func (s *Store) Pull(ctx context.Context, ref string) (*Image, error) {
	r, err := s.Mirrors.Rewrite(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, remote.WithContext(ctx), remote.WithPlatform(Platform()))
	if err != nil {
		return nil, classify(ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, classify(ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.Dir, d.Algorithm+"-"+d.Hex)
	lock := s.lock(dir)
	lock.Lock()
	defer lock.Unlock()
	out := &Image{Ref: ref, Digest: d.String(), Dir: filepath.Join(dir, "rootfs")}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		if err := json.Unmarshal(b, &out.Config); err != nil {
			return nil, fmt.Errorf("cached config of %s: %w", ref, err)
		}
		return out, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, classify(ref, err)
	}
	if cf.OS != "" && cf.OS != "linux" || cf.Architecture != "" && cf.Architecture != runtime.GOARCH {
		return nil, fmt.Errorf("%w: %s is %s/%s, the node is linux/%s", ErrNotFound, ref, cf.OS, cf.Architecture, runtime.GOARCH)
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "rootfs"), 0o755); err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, classify(ref, err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, classify(ref, err)
		}
		err = Apply(filepath.Join(tmp, "rootfs"), rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("unpack layer %d of %s: %w", i, ref, err)
		}
	}
	b, err := json.Marshal(cf.Config)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), b, 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	out.Config = cf.Config
	return out, nil
}

func (s *Store) lock(dir string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = map[string]*sync.Mutex{}
	}
	if s.inflight[dir] == nil {
		s.inflight[dir] = &sync.Mutex{}
	}
	return s.inflight[dir]
}

func classify(ref string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s: %v", ErrNotFound, ref, err)
	}
	if err != nil && strings.Contains(err.Error(), "no child with platform") {
		return fmt.Errorf("%w: %s has no linux/%s image: %v", ErrNotFound, ref, runtime.GOARCH, err)
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}

// Apply unpacks one uncompressed layer tar onto dir, handling OCI whiteouts. Every path is
// resolved inside dir (os.Root), so a layer cannot write outside it.
func Apply(dir string, layer io.Reader) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close() //nolint:errcheck // closing a root releases its descriptor
	// Entries this layer wrote: an opaque marker removes only what lower layers put there.
	written := map[string]bool{}
	tr := tar.NewReader(layer)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" {
			continue
		}
		parent, base := path.Split(name)
		parent = strings.TrimSuffix(parent, "/")
		if parent == "" {
			parent = "."
		}
		if base == ".wh..wh..opq" {
			if err := opaque(root, parent, written); err != nil {
				return err
			}
			continue
		}
		if victim, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := root.RemoveAll(path.Join(parent, victim)); err != nil {
				return fmt.Errorf("whiteout %s: %w", name, err)
			}
			continue
		}
		if parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		written[name] = true
		if err := entry(root, name, h, tr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

func entry(root *os.Root, name string, h *tar.Header, r io.Reader) error {
	mode := fs.FileMode(h.Mode) & fs.ModePerm
	if h.Typeflag != tar.TypeDir {
		if err := root.RemoveAll(name); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
			if err := root.Remove(name); err != nil {
				return err
			}
		}
		if err := root.MkdirAll(name, mode); err != nil {
			return err
		}
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		return root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		return root.Link(strings.TrimPrefix(path.Clean("/"+h.Linkname), "/"), name)
	default:
		// Devices and FIFOs: containers get /dev from the node, never from an image.
		return nil
	}
	if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
		return err
	}
	// Chmod after chown: chown clears setuid and setgid bits.
	return root.Chmod(name, mode|setBits(h.Mode))
}

// setBits maps the tar header's Unix setuid/setgid/sticky bits to fs.FileMode.
func setBits(m int64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// opaque empties dir of everything this layer did not write.
func opaque(root *os.Root, dir string, written map[string]bool) error {
	f, err := root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close() //nolint:errcheck // a directory opened to read names
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(dir, n)
		if written[p] {
			continue
		}
		if err := root.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}
