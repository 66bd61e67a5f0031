package filters

import (
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// Rewrite is a compiled URLRewrite filter.
type Rewrite struct {
	hostname string
	path     *config.PathModifier
}

// NewRewrite compiles c; nil yields nil, a no-op.
func NewRewrite(c *config.URLRewrite) *Rewrite {
	if c == nil {
		return nil
	}
	return &Rewrite{hostname: c.Hostname, path: c.Path}
}

// Apply rewrites the outgoing request's Host and path. prefix is the
// PathPrefix the rule matched.
func (rw *Rewrite) Apply(out *http.Request, prefix string) {
	if rw == nil {
		return
	}
	if rw.hostname != "" {
		out.Host = rw.hostname
	}
	if rw.path != nil {
		out.URL.Path = RewritePath(rw.path, out.URL.Path, prefix)
		// RawPath would override the new Path when encoding; let the URL
		// re-escape from Path instead.
		out.URL.RawPath = ""
	}
}
