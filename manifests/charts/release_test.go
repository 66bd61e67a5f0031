package charts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLayout writes an OCI layout index.json naming refs by their digests, like the layout
// `make images` writes (blobs are not read by Release).
func writeLayout(t *testing.T, refs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations"`
	}
	idx := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json"}
	for ref, d := range refs {
		idx.Manifests = append(idx.Manifests, desc{MediaType: "application/vnd.oci.image.index.v1+json", Digest: d, Size: 1, Annotations: map[string]string{refNameAnnotation: ref}})
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freshCharts is a copy of the charts regenerated from the base, so the release tests do not
// fail while the charts in the tree are stale (TestGeneratedFilesAreUpToDate reports that).
func freshCharts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, testCharts, dir)
	files, err := Generate(testManifests, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRelease(t *testing.T) {
	charts := freshCharts(t)
	layout := writeLayout(t, map[string]string{
		"ghcr.io/agentgateway-go/operator:v1.4.0": opDigest,
		"ghcr.io/agentgateway-go/proxy:v1.4.0":    proxyDigest,
		"ghcr.io/agentgateway-go/proxy:v1.3.0":    "sha256:3333333333333333333333333333333333333333333333333333333333333333",
	})
	out := t.TempDir()
	res, err := Release(ReleaseOptions{
		Version: "1.4.0", OCILayout: layout, Repository: "ghcr.io/agentgateway-go",
		ManifestsDir: testManifests, ChartsDir: charts, OutDir: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{ChartName, CRDChartName} {
		ch, err := Load(filepath.Join(out, c+"-1.4.0.tgz"))
		if err != nil {
			t.Fatalf("packaged %s: %v", c, err)
		}
		if ch.Metadata.Version != "1.4.0" || ch.Metadata.AppVersion != "v1.4.0" {
			t.Errorf("%s: version %s appVersion %s, want 1.4.0 and the images' tag v1.4.0", c, ch.Metadata.Version, ch.Metadata.AppVersion)
		}
	}

	b, err := os.ReadFile(filepath.Join(out, "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].Kind() != "Namespace" || objs[0].Name() != BaseNamespace {
		t.Errorf("install.yaml starts with %s, want the Namespace %s", objs[0].Key(), BaseNamespace)
	}
	base, err := Kustomize(testManifests)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(base) {
		t.Errorf("install.yaml has %d objects, the kustomize base %d", len(objs), len(base))
	}
	var crds int
	for _, o := range objs {
		if o.Kind() == "CustomResourceDefinition" {
			crds++
		}
		if o.Kind() != "Deployment" {
			continue
		}
		c := lookup(t, o, "spec", "template", "spec", "containers", 0).(map[string]any)
		if want := "ghcr.io/agentgateway-go/operator@" + opDigest; c["image"] != want {
			t.Errorf("operator image %v, want %s", c["image"], want)
		}
		if !strings.Contains(strings.Join(toStrings(c["args"]), " "), "--proxy-image=ghcr.io/agentgateway-go/proxy@"+proxyDigest) {
			t.Errorf("args %v do not pin the proxy by digest", c["args"])
		}
	}
	if crds == 0 {
		t.Error("install.yaml has no CRDs")
	}

	d, err := os.ReadFile(filepath.Join(out, "digests.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := "ghcr.io/agentgateway-go/operator:v1.4.0@" + opDigest + "\nghcr.io/agentgateway-go/proxy:v1.4.0@" + proxyDigest + "\n"
	if string(d) != want {
		t.Errorf("digests.txt:\n%s\nwant:\n%s", d, want)
	}
	if len(res.Files) != 4 {
		t.Errorf("wrote %v, want two charts, install.yaml and digests.txt", res.Files)
	}

	// The same inputs give the same archives.
	again := t.TempDir()
	if _, err := Release(ReleaseOptions{Version: "1.4.0", OCILayout: layout, Repository: "ghcr.io/agentgateway-go", ManifestsDir: testManifests, ChartsDir: charts, OutDir: again}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ChartName + "-1.4.0.tgz", CRDChartName + "-1.4.0.tgz", "install.yaml"} {
		a, errA := os.ReadFile(filepath.Join(out, f))
		b, errB := os.ReadFile(filepath.Join(again, f))
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("%s differs between two releases of the same inputs (%v, %v)", f, errA, errB)
		}
	}
}

func toStrings(v any) []string {
	var s []string
	for _, e := range v.([]any) {
		s = append(s, e.(string))
	}
	return s
}

func TestReleaseRejects(t *testing.T) {
	good := map[string]string{"ghcr.io/agentgateway-go/operator:1.4.0": opDigest, "ghcr.io/agentgateway-go/proxy:1.4.0": proxyDigest}
	for _, tc := range []struct {
		name    string
		version string
		refs    map[string]string
		want    string
	}{
		{"leading v", "v1.4.0", good, "semantic version"},
		{"not semver", "1.4", good, "semantic version"},
		{"no proxy for the version", "1.4.0", map[string]string{"ghcr.io/agentgateway-go/operator:1.4.0": opDigest, "ghcr.io/agentgateway-go/proxy:1.3.0": proxyDigest}, "no ghcr.io/agentgateway-go/proxy:1.4.0"},
		{"other repository", "1.4.0", map[string]string{"example.com/operator:1.4.0": opDigest, "example.com/proxy:1.4.0": proxyDigest}, "no ghcr.io/agentgateway-go/operator"},
		{"bad digest", "1.4.0", map[string]string{"ghcr.io/agentgateway-go/operator:1.4.0": "sha256:12", "ghcr.io/agentgateway-go/proxy:1.4.0": proxyDigest}, "want sha256:<64 hex>"},
		{"tags differ", "1.4.0", map[string]string{"ghcr.io/agentgateway-go/operator:1.4.0": opDigest, "ghcr.io/agentgateway-go/proxy:v1.4.0": proxyDigest}, "one tag for both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, err := Release(ReleaseOptions{Version: tc.version, OCILayout: writeLayout(t, tc.refs), Repository: "ghcr.io/agentgateway-go", ManifestsDir: testManifests, ChartsDir: testCharts, OutDir: out})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
			if entries, err := os.ReadDir(out); err != nil || len(entries) > 0 {
				t.Fatalf("a rejected release wrote %v (%v)", entries, err)
			}
		})
	}
	t.Run("no layout", func(t *testing.T) {
		_, err := Release(ReleaseOptions{Version: "1.0.0", OCILayout: filepath.Join(t.TempDir(), "missing"), Repository: "ghcr.io/agentgateway-go", ManifestsDir: testManifests, ChartsDir: testCharts, OutDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "make images") {
			t.Fatalf("err %v, want it to point at make images", err)
		}
	})
}

func TestReleaseRefusesStaleCharts(t *testing.T) {
	charts := freshCharts(t)
	svc := filepath.Join(charts, ChartName, "templates", "service-agentgateway-xds.yaml")
	if err := os.WriteFile(svc, []byte("# edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	layout := writeLayout(t, map[string]string{"ghcr.io/agentgateway-go/operator:1.4.0": opDigest, "ghcr.io/agentgateway-go/proxy:1.4.0": proxyDigest})
	out := t.TempDir()
	_, err := Release(ReleaseOptions{Version: "1.4.0", OCILayout: layout, Repository: "ghcr.io/agentgateway-go", ManifestsDir: testManifests, ChartsDir: charts, OutDir: out})
	if err == nil || !strings.Contains(err.Error(), "stale") || !strings.Contains(err.Error(), "service-agentgateway-xds.yaml") {
		t.Fatalf("err %v, want the stale template named", err)
	}
	if entries, err := os.ReadDir(out); err != nil || len(entries) > 0 {
		t.Fatalf("a refused release wrote %v (%v)", entries, err)
	}
}
