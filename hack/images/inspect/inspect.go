// Package inspect prints a crane-style summary of an image index (index → per-platform
// manifests → config user, entrypoint, labels and layers) and lints it against the rules of
// hack/images/assemble: a numeric non-root user, the OCI labels, every wanted platform,
// and no file besides the base's and the entrypoint binary, which must be a static ELF
// program of the manifest's architecture (so no shell can hide in an image).
package inspect

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agentgateway/agentgateway-go/hack/images/assemble"
)

// RequiredLabels must be set, non-empty, on every image config.
var RequiredLabels = []string{assemble.LabelSource, assemble.LabelRevision, assemble.LabelVersion, assemble.LabelCreated}

// shells are program names reported as "a shell" rather than only "an unexpected file".
var shells = []string{"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox", "toybox"}

// elfMachine maps GOARCH names to ELF machine types.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM,
	"386": elf.EM_386, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// Index writes the summary of idx, stored under ref, to w and returns every rule it
// breaks. platforms are the "os/arch" strings the index must contain. The error is for
// failures to read the image, not for broken rules.
func Index(out io.Writer, ref string, idx v1.ImageIndex, platforms []string) ([]string, error) {
	w := &printer{w: out}
	problems, err := index(w, ref, idx, platforms)
	if err != nil {
		return nil, err
	}
	if w.err != nil {
		return nil, fmt.Errorf("write summary: %w", w.err)
	}
	return problems, nil
}

// printer keeps the first write error so the summary code can print without checking each
// call.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func index(w *printer, ref string, idx v1.ImageIndex, platforms []string) ([]string, error) {
	var problems []string
	report := func(format string, args ...any) {
		problems = append(problems, ref+": "+fmt.Sprintf(format, args...))
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, fmt.Errorf("%s: digest: %w", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index manifest: %w", ref, err)
	}
	w.printf("%s\n  index %s (%s)\n", ref, d, m.MediaType)
	var tag string
	if r, err := name.NewTag(ref); err == nil {
		tag = r.TagStr()
	}
	have := map[string]bool{}
	for _, desc := range m.Manifests {
		if desc.Platform == nil {
			report("manifest %s has no platform", desc.Digest)
			continue
		}
		p := desc.Platform.String()
		have[p] = true
		im, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", ref, p, err)
		}
		ps, err := image(w, p, desc, im, tag)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", ref, p, err)
		}
		for _, s := range ps {
			report("%s: %s", p, s)
		}
	}
	for _, p := range platforms {
		if !have[p] {
			report("platform %s missing from the index", p)
		}
	}
	return problems, nil
}

func image(w *printer, platform string, desc v1.Descriptor, im v1.Image, tag string) ([]string, error) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	cf, err := im.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	mf, err := im.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	c := cf.Config
	w.printf("  %s\n    manifest %s (%d bytes)\n    config %s: user %q, entrypoint %q, workdir %q, created %s\n",
		platform, desc.Digest, desc.Size, mf.Config.Digest, c.User, c.Entrypoint, c.WorkingDir, cf.Created.UTC().Format("2006-01-02T15:04:05Z"))
	w.printf("    env %q\n", c.Env)
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		w.printf("    label %s=%s\n", k, c.Labels[k])
	}

	if cf.OS+"/"+cf.Architecture != strings.Join(strings.Split(platform, "/")[:2], "/") {
		report("config platform %s/%s differs from the index's %s", cf.OS, cf.Architecture, platform)
	}
	if msg := checkUser(c.User); msg != "" {
		report("%s", msg)
	}
	for _, k := range RequiredLabels {
		if c.Labels[k] == "" {
			report("label %s missing", k)
		}
	}
	if tag != "" && c.Labels[assemble.LabelVersion] != "" && c.Labels[assemble.LabelVersion] != tag {
		report("label %s=%q differs from the tag %q", assemble.LabelVersion, c.Labels[assemble.LabelVersion], tag)
	}
	if len(c.Entrypoint) == 0 {
		report("no entrypoint")
		return problems, nil
	}
	entry := c.Entrypoint[0]

	allowed := map[string]bool{entry: true}
	for _, p := range assemble.BasePaths() {
		allowed[p] = true
	}
	layers, err := im.Layers()
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	var total int64
	foundEntry := false
	for i, l := range layers {
		ld, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		size, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		total += size
		var files []string
		err = walk(l, func(h *tar.Header, r io.Reader) error {
			p := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
			files = append(files, p)
			base := path.Base(p)
			switch {
			case slices.Contains(shells, base) && p != entry:
				report("shell %s in the image", p)
			case !allowed[p]:
				report("unexpected file %s (only the base files and %s belong in the image)", p, entry)
			}
			if p != entry {
				return nil
			}
			foundEntry = true
			if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
				report("entrypoint %s is not an executable regular file (type %c, mode %o)", p, h.Typeflag, h.Mode)
				return nil
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if msg := checkELF(b, cf.Architecture); msg != "" {
				report("entrypoint %s: %s", p, msg)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", ld, err)
		}
		w.printf("    layer %s %s compressed, %d entries: %s\n", ld, humanSize(size), len(files), summarizeFiles(files))
	}
	if !foundEntry {
		report("entrypoint %s is not in any layer", entry)
	}
	w.printf("    total %s compressed in %d layers\n", humanSize(total), len(layers))
	return problems, nil
}

// checkUser accepts only a numeric, non-zero uid (and gid when given): Kubernetes'
// runAsNonRoot cannot verify a user name.
func checkUser(user string) string {
	if user == "" {
		return "config user is empty (runs as root)"
	}
	uid, gid, hasGID := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	if err != nil {
		return fmt.Sprintf("config user %q is not numeric", user)
	}
	if n == 0 {
		return fmt.Sprintf("config user %q is root", user)
	}
	if hasGID {
		g, err := strconv.Atoi(gid)
		if err != nil || g == 0 {
			return fmt.Sprintf("config group in %q must be numeric and not 0", user)
		}
	}
	return ""
}

func checkELF(b []byte, arch string) string {
	// No Close: a File made by NewFile holds no file descriptor.
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Sprintf("not an ELF program: %v", err)
	}
	if want, ok := elfMachine[arch]; !ok || f.Machine != want {
		return fmt.Sprintf("ELF machine %s does not match architecture %s", f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "dynamically linked (has an ELF interpreter); build with CGO_ENABLED=0"
		}
	}
	return ""
}

func walk(l v1.Layer, fn func(*tar.Header, io.Reader) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

func summarizeFiles(files []string) string {
	const shown = 6
	if len(files) <= shown {
		return strings.Join(files, " ")
	}
	return strings.Join(files[:shown], " ") + fmt.Sprintf(" … (+%d)", len(files)-shown)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
