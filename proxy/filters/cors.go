package filters

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// CORS is a compiled CORS filter.
type CORS struct {
	anyOrigin     bool
	origins       map[string]bool
	wildcards     []originWildcard // "https://*.example.com"
	allowMethods  string
	anyMethod     bool
	allowHeaders  string
	anyHeader     bool
	exposeHeaders string
	credentials   bool
	maxAge        string
}

type originWildcard struct{ scheme, suffix string }

// NewCORS compiles c.
func NewCORS(c *config.CORS) *CORS {
	x := &CORS{origins: map[string]bool{}, credentials: c.AllowCredentials}
	for _, o := range c.AllowOrigins {
		switch {
		case o == "*":
			x.anyOrigin = true
		case strings.Contains(o, "://*."):
			i := strings.Index(o, "://*.")
			x.wildcards = append(x.wildcards, originWildcard{scheme: o[:i], suffix: strings.ToLower(o[i+4:])})
		default:
			x.origins[strings.ToLower(o)] = true
		}
	}
	for _, m := range c.AllowMethods {
		if m == "*" {
			x.anyMethod = true
		}
	}
	x.allowMethods = strings.Join(c.AllowMethods, ", ")
	for _, h := range c.AllowHeaders {
		if h == "*" {
			x.anyHeader = true
		}
	}
	x.allowHeaders = strings.Join(c.AllowHeaders, ", ")
	x.exposeHeaders = strings.Join(c.ExposeHeaders, ", ")
	if c.MaxAge > 0 {
		x.maxAge = strconv.Itoa(c.MaxAge)
	}
	return x
}

func (x *CORS) allowed(origin string) bool {
	if origin == "" {
		return false
	}
	if x.anyOrigin {
		return true
	}
	o := strings.ToLower(origin)
	if x.origins[o] {
		return true
	}
	for _, w := range x.wildcards {
		rest, ok := strings.CutPrefix(o, w.scheme+"://")
		if ok && len(rest) > len(w.suffix) && strings.HasSuffix(rest, w.suffix) {
			return true
		}
	}
	return false
}

// Preflight answers a CORS preflight request and reports whether it did.
// Requests that are not preflights (no Origin, or not OPTIONS with
// Access-Control-Request-Method) are left to the route.
func (x *CORS) Preflight(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	if x.allowed(origin) {
		x.decorate(h, origin)
		switch {
		case x.anyMethod:
			// Echo the requested method: "*" is literal for credentialed
			// requests, and the echo is valid either way.
			h.Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
		case x.allowMethods != "":
			h.Set("Access-Control-Allow-Methods", x.allowMethods)
		}
		if x.exposeHeaders != "" {
			h.Set("Access-Control-Expose-Headers", x.exposeHeaders)
		}
		switch {
		case x.anyHeader && !x.credentials:
			h.Set("Access-Control-Allow-Headers", "*")
		case x.anyHeader:
			// "*" is literal when credentials are allowed: echo instead.
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
		case x.allowHeaders != "":
			h.Set("Access-Control-Allow-Headers", x.allowHeaders)
		}
		if x.maxAge != "" {
			h.Set("Access-Control-Max-Age", x.maxAge)
		}
	}
	h.Add("Vary", "Origin")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// Decorate adds CORS response headers for an actual (non-preflight)
// request from origin.
func (x *CORS) Decorate(h http.Header, origin string) {
	if !x.allowed(origin) {
		return
	}
	x.decorate(h, origin)
	if x.exposeHeaders != "" {
		h.Set("Access-Control-Expose-Headers", x.exposeHeaders)
	}
}

func (x *CORS) decorate(h http.Header, origin string) {
	if x.anyOrigin && !x.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if x.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}
