package translate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current output")

// TestGolden translates every testdata/<name>.in.yaml Snapshot and compares the Result with
// testdata/<name>.out.yaml. Run with -update to rewrite outputs, then read the diff: a golden
// file that encodes a bug is worse than none.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no testdata/*.in.yaml")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			s := loadSnapshot(t, in)
			before, _ := yaml.Marshal(s)
			res := Translate(s)
			if after, _ := yaml.Marshal(s); !bytes.Equal(before, after) {
				t.Errorf("Translate mutated its input")
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
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", out, lineDiff(string(want), string(got)))
			}

			// Input order must not matter: the informer cache lists objects in any order.
			rev := loadSnapshot(t, in)
			reverseAll(rev)
			if again, _ := yaml.Marshal(Translate(rev)); !bytes.Equal(again, got) {
				t.Errorf("output depends on input order:\n%s", lineDiff(string(got), string(again)))
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
		if f.Kind() != reflect.Slice {
			continue
		}
		n := f.Len()
		for a, b := 0, n-1; a < b; a, b = a+1, b-1 {
			x, y := f.Index(a).Interface(), f.Index(b).Interface()
			f.Index(a).Set(reflect.ValueOf(y))
			f.Index(b).Set(reflect.ValueOf(x))
		}
	}
}

// lineDiff shows the first differing lines with some context; enough to spot a change.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	b.WriteString("--- want\n")
	b.WriteString(strings.Join(w[from:min(len(w), i+8)], "\n"))
	b.WriteString("\n+++ got\n")
	b.WriteString(strings.Join(g[from:min(len(g), i+8)], "\n"))
	return b.String()
}
