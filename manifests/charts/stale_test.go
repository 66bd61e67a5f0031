package charts

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "charts" || rel == "demo" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStaleDetectsAChangedBase: an object added to the base makes the charts stale (what
// `make verify` reports) until `make chart` runs.
func TestStaleDetectsAChangedBase(t *testing.T) {
	base := t.TempDir()
	copyTree(t, testManifests, base)
	svc := filepath.Join(base, "operator", "service.yaml")
	b, err := os.ReadFile(svc)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: agentgateway-extra\nspec:\n  ports:\n    - {port: 80}\n"...)
	if err := os.WriteFile(svc, b, 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := Generate(base, testCharts)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(testCharts, files)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(ChartName, "templates", "service-agentgateway-extra.yaml")
	if !slices.Contains(stale, want) {
		t.Fatalf("stale %v, want it to list %s", stale, want)
	}

	// Writing the generated files into a copy of the charts makes them current again.
	charts := t.TempDir()
	copyTree(t, testCharts, charts)
	if err := Write(charts, files); err != nil {
		t.Fatal(err)
	}
	if stale, err := Stale(charts, files); err != nil || len(stale) > 0 {
		t.Fatalf("after Write: stale %v, err %v", stale, err)
	}
}
