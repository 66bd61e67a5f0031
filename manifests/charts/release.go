package charts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
)

// ReleaseOptions say what Release packages and where.
type ReleaseOptions struct {
	// Version is the release's semantic version without a leading v (the charts' version).
	Version string
	// OCILayout is the OCI image layout `make images` writes: index.json names each image
	// index by its full reference in org.opencontainers.image.ref.name.
	OCILayout string
	// Repository is the registry and path of the images (<Repository>/operator, /proxy).
	Repository string
	// ManifestsDir and ChartsDir are manifests/ and manifests/charts.
	ManifestsDir, ChartsDir string
	// OutDir receives the chart archives, install.yaml and digests.txt.
	OutDir string
	// SourceDateEpoch stamps the archive entries; zero means the Unix epoch, so the same
	// inputs give the same archives.
	SourceDateEpoch time.Time
}

// ReleaseResult lists what Release wrote.
type ReleaseResult struct {
	Files []string
	// Images maps operator and proxy to their pinned references (repository@digest).
	Images map[string]string
}

var semverRe = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// refNameAnnotation names an image index in an OCI layout (OCI image-spec, annotations.md).
const refNameAnnotation = "org.opencontainers.image.ref.name"

// layoutImage is one image of the layout: its tag and the digest of its index.
type layoutImage struct {
	tag, digest string
}

// readLayout returns the operator and proxy images of the layout in dir under repository,
// with the tag version or v+version.
func readLayout(dir, repository, version string) (map[string]layoutImage, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("OCI layout (make images writes it): %w", err)
	}
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.json: %w", dir, err)
	}
	found := map[string]layoutImage{}
	var seen []string
	for _, m := range idx.Manifests {
		ref := m.Annotations[refNameAnnotation]
		seen = append(seen, ref)
		repo, tag, ok := splitImage(ref)
		if !ok || (tag != version && tag != "v"+version) {
			continue
		}
		for _, name := range []string{"operator", "proxy"} {
			if repo != repository+"/"+name {
				continue
			}
			if prev, dup := found[name]; dup && prev.digest != m.Digest {
				return nil, fmt.Errorf("%s/index.json names two different %s images for %s", dir, name, version)
			}
			if !regexp.MustCompile(`^sha256:[a-f0-9]{64}$`).MatchString(m.Digest) {
				return nil, fmt.Errorf("%s/index.json: %s has digest %q, want sha256:<64 hex>", dir, ref, m.Digest)
			}
			found[name] = layoutImage{tag: tag, digest: m.Digest}
		}
	}
	for _, name := range []string{"operator", "proxy"} {
		if _, ok := found[name]; !ok {
			return nil, fmt.Errorf("%s/index.json has no %s/%s:%s (or :v%s); it names %q", dir, repository, name, version, version, seen)
		}
	}
	if found["operator"].tag != found["proxy"].tag {
		return nil, fmt.Errorf("%s/index.json tags the operator %s and the proxy %s; the chart uses one tag for both", dir, found["operator"].tag, found["proxy"].tag)
	}
	return found, nil
}

// Release packages both charts (version o.Version, appVersion the images' tag) into o.OutDir,
// and writes install.yaml (the release namespace, every CRD and the operator, images pinned
// by digest, rendered from the packaged charts) and digests.txt. It refuses to package
// charts that are stale against the kustomize base.
func Release(o ReleaseOptions) (*ReleaseResult, error) {
	if !semverRe.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q is not a semantic version x.y.z (no leading v)", o.Version)
	}
	images, err := readLayout(o.OCILayout, o.Repository, o.Version)
	if err != nil {
		return nil, err
	}
	files, err := Generate(o.ManifestsDir, o.ChartsDir)
	if err != nil {
		return nil, err
	}
	stale, err := Stale(o.ChartsDir, files)
	if err != nil {
		return nil, err
	}
	if len(stale) > 0 {
		return nil, fmt.Errorf("charts are stale against manifests/ (run make chart): %s", strings.Join(stale, ", "))
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	res := &ReleaseResult{Images: map[string]string{}}
	epoch := o.SourceDateEpoch
	if epoch.IsZero() {
		epoch = time.Unix(0, 0).UTC()
	}
	archives := map[string]string{}
	for _, c := range []string{CRDChartName, ChartName} {
		p := action.NewPackage()
		p.Version = o.Version
		p.AppVersion = images["operator"].tag
		p.Destination = o.OutDir
		p.SourceDateEpoch = &epoch
		path, err := p.Run(filepath.Join(o.ChartsDir, c), nil)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", c, err)
		}
		archives[c] = path
		res.Files = append(res.Files, path)
	}

	var install strings.Builder
	install.WriteString("# agentgateway-go " + o.Version + ": every object of the " + CRDChartName + " and " + ChartName +
		" charts with default values,\n" +
		"# images pinned by digest. kubectl apply --server-side -f install.yaml; on a fresh cluster the\n" +
		"# first apply ends at the GatewayClass (no matches for kind) until the CRDs are established:\n" +
		"# kubectl wait --for=condition=Established crd --all, then apply again.\n")
	ns := Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": BaseNamespace}}
	if err := EncodeYAML(&install, []Object{ns}); err != nil {
		return nil, err
	}
	pinned := map[string]any{
		"image":      map[string]any{"repository": o.Repository, "digest": images["operator"].digest},
		"proxyImage": map[string]any{"digest": images["proxy"].digest},
	}
	for _, c := range []string{CRDChartName, ChartName} {
		ch, err := Load(archives[c])
		if err != nil {
			return nil, err
		}
		vals := map[string]any{}
		if c == ChartName {
			vals = pinned
		}
		m, err := RenderManifest(ch, BaseNamespace, vals)
		if err != nil {
			return nil, err
		}
		install.WriteString("---\n" + strings.TrimPrefix(strings.TrimSpace(m), "---\n") + "\n")
	}
	installPath := filepath.Join(o.OutDir, "install.yaml")
	if err := os.WriteFile(installPath, []byte(install.String()), 0o644); err != nil {
		return nil, err
	}
	res.Files = append(res.Files, installPath)

	var digests strings.Builder
	for _, name := range []string{"operator", "proxy"} {
		img := images[name]
		ref := o.Repository + "/" + name
		res.Images[name] = ref + "@" + img.digest
		fmt.Fprintf(&digests, "%s:%s@%s\n", ref, img.tag, img.digest)
	}
	digestsPath := filepath.Join(o.OutDir, "digests.txt")
	if err := os.WriteFile(digestsPath, []byte(digests.String()), 0o644); err != nil {
		return nil, err
	}
	res.Files = append(res.Files, digestsPath)
	return res, nil
}
