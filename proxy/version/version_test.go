package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestStringUsesLinkTimeValues(t *testing.T) {
	oldV, oldR := Version, Revision
	t.Cleanup(func() { Version, Revision = oldV, oldR })
	Version, Revision = "v1.2.3", "0123abc"
	got := String("proxy")
	want := "proxy version v1.2.3, revision 0123abc, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestGetFallsBack(t *testing.T) {
	oldV, oldR := Version, Revision
	t.Cleanup(func() { Version, Revision = oldV, oldR })
	Version, Revision = "", ""
	i := Get()
	// A test binary has no module version and no VCS stamp: both fall back to "unknown"
	// rather than an empty field.
	if i.Version == "" || i.Revision == "" || !strings.HasPrefix(i.GoVersion, "go") {
		t.Errorf("Get() = %+v", i)
	}
}
