package translate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/<area>/*.out.yaml from the current output")

// goldenAreas are the directories of testdata the golden inputs are sorted into.
var goldenAreas = []string{"backends", "gateways", "listenersets", "policies", "routes"}

// goldenInputs lists every golden input, testdata/<area>/<case>.in.yaml, in a fixed order.
// An input outside the area directories fails the test rather than being skipped.
func goldenInputs(t *testing.T) []string {
	t.Helper()
	stray, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(stray) > 0 {
		t.Fatalf("golden inputs outside an area directory %v: move them into testdata/<area>/", stray)
	}
	var ins []string
	for _, area := range goldenAreas {
		got, err := filepath.Glob(filepath.Join("testdata", area, "*.in.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Fatalf("no testdata/%s/*.in.yaml", area)
		}
		ins = append(ins, got...)
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if !slices.Equal(dirs, goldenAreas) {
		t.Fatalf("testdata has directories %v; goldenAreas lists %v", dirs, goldenAreas)
	}
	return ins
}

// mutation describes a change reflect.DeepEqual found, given the diff of the encodings.
func mutation(diff string) string {
	if diff == "" {
		return "(the encodings are equal: nil against empty, or a field that is not encoded)"
	}
	return diff
}

// mustYAML is v encoded as YAML.
func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lines splits YAML into lines, so cmp.Diff shows the lines that differ.
func lines(b []byte) []string { return strings.Split(string(b), "\n") }

// goldenName is an input's area and case, "routes/basic-http".
func goldenName(in string) string {
	return filepath.Base(filepath.Dir(in)) + "/" + strings.TrimSuffix(filepath.Base(in), ".in.yaml")
}

// TestGolden translates every testdata/<area>/<case>.in.yaml Snapshot and compares the
// Result with testdata/<area>/<case>.out.yaml. Run with -update to rewrite outputs, then
// read the diff: a golden file that encodes a bug is worse than none.
func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(goldenName(in), func(t *testing.T) {
			s := loadSnapshot(t, in)
			res := Translate(s)
			if before := loadSnapshot(t, in); !reflect.DeepEqual(s, before) {
				t.Errorf("Translate mutated its input (-before +after):\n%s", mutation(cmp.Diff(lines(mustYAML(t, before)), lines(mustYAML(t, s)))))
			}
			for _, g := range res.Gateways {
				if g.Config != nil {
					if err := g.Config.Validate(); err != nil {
						t.Errorf("gateway %s/%s: invalid config: %v", g.Namespace, g.Name, err)
					}
				}
			}
			got, err := yaml.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(lines(want), lines(got)); d != "" {
				t.Errorf("output differs from %s (-want +got; run with -update and review the diff):\n%s", out, d)
			}

			// Input order must not matter: the informer cache lists objects in any order.
			rev := loadSnapshot(t, in)
			reverseAll(rev)
			if again := mustYAML(t, Translate(rev)); !bytes.Equal(again, got) {
				t.Errorf("output depends on input order (-in order +reversed):\n%s", cmp.Diff(lines(got), lines(again)))
			}
		})
	}
}

func loadSnapshot(t *testing.T, path string) *Snapshot {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{}
	if err := yaml.UnmarshalStrict(b, s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if s.ControllerName == "" {
		s.ControllerName = "agentgateway.dev/agentgateway"
	}
	s.SessionSecret = []byte("golden-test-session-secret-of-32+bytes")
	// Test inputs may use stringData for readability; the API server folds it into data.
	for i := range s.Secrets {
		sec := &s.Secrets[i]
		for k, v := range sec.StringData {
			if sec.Data == nil {
				sec.Data = map[string][]byte{}
			}
			sec.Data[k] = []byte(v)
		}
		sec.StringData = nil
	}
	return s
}

// reverseAll reverses every slice field of the Snapshot.
func reverseAll(s *Snapshot) {
	v := reflect.ValueOf(s).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Struct {
			continue // not a list of objects (SessionSecret)
		}
		n := f.Len()
		for a, b := 0, n-1; a < b; a, b = a+1, b-1 {
			x, y := f.Index(a).Interface(), f.Index(b).Interface()
			f.Index(a).Set(reflect.ValueOf(y))
			f.Index(b).Set(reflect.ValueOf(x))
		}
	}
}
