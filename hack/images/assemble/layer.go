package assemble

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of a layer. Exactly one of Data and Source is used for a regular file;
// directories (Mode has fs.ModeDir) have neither.
type File struct {
	// Path is the absolute path inside the image, e.g. "/etc/passwd".
	Path string
	// Mode holds the permission bits, plus fs.ModeDir for a directory and fs.ModeSticky
	// for a sticky directory such as /tmp.
	Mode fs.FileMode
	// UID and GID own the entry (0 is root).
	UID, GID int
	// Data is the content of a small file.
	Data []byte
	// Source is a file on the build host whose content is copied (a binary).
	Source string
}

// NewLayer builds a gzip-compressed OCI layer from files. Entries are sorted by path,
// every entry has mtime modTime and no user or group names, and missing parent
// directories are added (root-owned, 0755), so equal inputs give equal digests.
func NewLayer(files []File, modTime time.Time) (v1.Layer, error) {
	entries := map[string]File{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("layer entry %q: path must be absolute and clean", f.Path)
		}
		if _, dup := entries[f.Path]; dup {
			return nil, fmt.Errorf("layer entry %q: listed twice", f.Path)
		}
		if f.Mode.IsDir() && (f.Data != nil || f.Source != "") {
			return nil, fmt.Errorf("layer entry %q: a directory has no content", f.Path)
		}
		if !f.Mode.IsDir() && f.Data != nil && f.Source != "" {
			return nil, fmt.Errorf("layer entry %q: set Data or Source, not both", f.Path)
		}
		entries[f.Path] = f
	}
	for p := range entries {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if e, ok := entries[d]; ok {
				if !e.Mode.IsDir() {
					return nil, fmt.Errorf("layer entry %q: parent %q is not a directory", p, d)
				}
				continue
			}
			entries[d] = File{Path: d, Mode: fs.ModeDir | 0o755}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var compressed bytes.Buffer
	// The gzip header carries no name and no mtime; compress/gzip output depends only on
	// the input and the level for a given Go release.
	zw, err := gzip.NewWriterLevel(&compressed, gzip.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip writer: %w", err)
	}
	diffID := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, diffID))
	for _, p := range paths {
		if err := writeEntry(tw, entries[p], modTime.UTC()); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("close gzip: %w", err)
	}
	l := &layer{compressed: compressed.Bytes()}
	l.diffID = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", diffID.Sum(nil))}
	sum := sha256.Sum256(l.compressed)
	l.digest = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum[:])}
	return l, nil
}

func writeEntry(tw *tar.Writer, f File, modTime time.Time) error {
	name := strings.TrimPrefix(f.Path, "/")
	mode := int64(f.Mode.Perm())
	if f.Mode&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	h := &tar.Header{Name: name, Mode: mode, Uid: f.UID, Gid: f.GID, ModTime: modTime, Format: tar.FormatPAX}
	if f.Mode.IsDir() {
		h.Typeflag = tar.TypeDir
		h.Name += "/"
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar header %s: %w", f.Path, err)
		}
		return nil
	}
	h.Typeflag = tar.TypeReg
	if f.Source == "" {
		h.Size = int64(len(f.Data))
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar header %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("tar content %s: %w", f.Path, err)
		}
		return nil
	}
	return copyFile(tw, h, f)
}

// copyFile writes the header and the content of the host file f.Source.
func copyFile(tw *tar.Writer, h *tar.Header, f File) (err error) {
	src, err := os.Open(f.Source)
	if err != nil {
		return fmt.Errorf("layer entry %s: %w", f.Path, err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", f.Source, cerr)
		}
	}()
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("layer entry %s: %w", f.Path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("layer entry %s: source %s is not a regular file", f.Path, f.Source)
	}
	h.Size = st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar header %s: %w", f.Path, err)
	}
	n, err := io.Copy(tw, src)
	if err != nil {
		return fmt.Errorf("copy %s into the layer: %w", f.Source, err)
	}
	if n != h.Size {
		return fmt.Errorf("copy %s into the layer: size changed while reading (%d of %d bytes)", f.Source, n, h.Size)
	}
	return nil
}

// layer is a finished layer held in memory: digests are known up front, so writing it to a
// layout or a registry never compresses twice.
type layer struct {
	compressed     []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*layer)(nil)

func (l *layer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *layer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *layer) Size() (int64, error)     { return int64(len(l.compressed)), nil }
func (l *layer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

func (l *layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

func (l *layer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.compressed))
	if err != nil {
		return nil, fmt.Errorf("gunzip layer %s: %w", l.digest, err)
	}
	return zr, nil
}

// errNoCABundle is wrapped when the host has no CA bundle to copy.
var errNoCABundle = errors.New("no CA bundle: install Debian's ca-certificates (apt-get install ca-certificates)")
