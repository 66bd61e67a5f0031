package filters

import (
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// RewritePath applies a path modifier to path. prefix is the normalized
// PathPrefix the rule matched (see router.Match.Prefix); it is replaced for
// ReplacePrefixMatch. nil returns path unchanged.
func RewritePath(m *config.PathModifier, path, prefix string) string {
	if m == nil {
		return path
	}
	if m.Type == config.ReplaceFullPath {
		return m.ReplaceFullPath
	}
	rest := path
	if prefix != "/" && strings.HasPrefix(path, prefix) {
		rest = path[len(prefix):]
	}
	repl := m.ReplacePrefixMatch
	// Join on exactly one "/": "/v2" + "/x", "/v2/" + "/x" and "/" + "/x"
	// all give ".../x"; an empty remainder keeps the replacement as is.
	switch {
	case rest == "":
		if repl == "" {
			return "/"
		}
		return repl
	case strings.HasSuffix(repl, "/") && strings.HasPrefix(rest, "/"):
		return repl + rest[1:]
	case !strings.HasSuffix(repl, "/") && !strings.HasPrefix(rest, "/"):
		return repl + "/" + rest
	default:
		return repl + rest
	}
}
