// Package version reports which build of the operator or proxy is running. Version and
// Revision are set at link time by release builds (hack/images):
//
//	-ldflags "-X github.com/agentgateway/agentgateway-go/proxy/version.Version=v0.1.0
//	          -X github.com/agentgateway/agentgateway-go/proxy/version.Revision=<commit>"
//
// A plain `go build` leaves them empty; they then come from the Go build info (module
// version and VCS stamp). The package lives under proxy/ because the proxy may not import
// operator code, while the operator may import proxy packages.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time with -X; see the package comment.
var (
	Version  string
	Revision string
)

// Info describes the running binary.
type Info struct {
	Version   string
	Revision  string
	GoVersion string
	Platform  string
}

// Get returns the link-time values, falling back to the Go build info, then "unknown".
func Get() Info {
	i := Info{Version: Version, Revision: Revision, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		if i.Revision == "" {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if rev != "" && modified == "true" {
				rev += "-dirty"
			}
			i.Revision = rev
		}
	}
	if i.Version == "" {
		i.Version = "unknown"
	}
	if i.Revision == "" {
		i.Revision = "unknown"
	}
	return i
}

// String is the line `<program> --version` prints.
func String(program string) string {
	i := Get()
	return fmt.Sprintf("%s version %s, revision %s, %s %s", program, i.Version, i.Revision, i.GoVersion, i.Platform)
}
