package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	var applied []string
	var reports []string
	f := &File{
		Path: path,
		Apply: func(c *config.Config) error {
			if err := c.Validate(); err != nil {
				return err
			}
			applied = append(applied, c.Version)
			return nil
		},
		Report: func(v string, err error) { reports = append(reports, v+":"+boolStr(err == nil)) },
	}
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Check(); err == nil {
		t.Fatal("missing file: no error")
	}
	write("version: \"1\"\n")
	if att, err := f.Check(); !att || err != nil {
		t.Fatalf("first load: %v %v", att, err)
	}
	if att, err := f.Check(); att || err != nil {
		t.Fatalf("unchanged file: re-applied %v, error %v", att, err)
	}
	write("version: \"2\"\nbogus: true\n")
	if _, err := f.Check(); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown field: %v", err)
	}
	write("version: \"\"\n")
	if _, err := f.Check(); err == nil || !strings.Contains(err.Error(), "version: required") {
		t.Fatalf("invalid config: %v", err)
	}
	// The source disappears: reported, nothing applied.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Check(); err == nil {
		t.Fatal("deleted file: no error")
	}
	write("version: \"3\"\n")
	if _, err := f.Check(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(applied, ",") != "1,3" {
		t.Fatalf("applied %v, want 1,3", applied)
	}
	if strings.Join(reports, ",") != "1:ok,:fail,:fail,3:ok" {
		t.Fatalf("reports %v", reports)
	}
}

func boolStr(ok bool) string {
	if ok {
		return "ok"
	}
	return "fail"
}
