package filters

import (
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// Redirect is a compiled RequestRedirect filter.
type Redirect struct {
	c config.RequestRedirect
}

// NewRedirect compiles c.
func NewRedirect(c *config.RequestRedirect) *Redirect { return &Redirect{c: *c} }

// Location computes the redirect target for r. scheme is the scheme the
// request arrived with, host its normalized host, listenerPort the port of
// the bind that received it, prefix the PathPrefix the rule matched.
func (rd *Redirect) Location(r *http.Request, scheme, host string, listenerPort int, prefix string) (string, int) {
	c := &rd.c
	outScheme := scheme
	if c.Scheme != "" {
		outScheme = c.Scheme
	}
	outHost := host
	if c.Hostname != "" {
		outHost = c.Hostname
	}
	// Port rules from the Gateway API: an explicit port wins; a scheme
	// change implies that scheme's well-known port; otherwise keep the
	// listener port.
	port := c.Port
	if port == 0 {
		if c.Scheme != "" {
			port = wellKnownPort(c.Scheme)
		} else {
			port = listenerPort
		}
	}
	hostport := outHost
	if port != 0 && port != wellKnownPort(outScheme) {
		hostport = net.JoinHostPort(outHost, strconv.Itoa(port))
	} else if net.ParseIP(outHost) != nil && net.ParseIP(outHost).To4() == nil {
		hostport = "[" + outHost + "]"
	}
	u := url.URL{
		Scheme:   outScheme,
		Host:     hostport,
		Path:     RewritePath(c.Path, r.URL.Path, prefix),
		RawQuery: r.URL.RawQuery,
	}
	code := c.StatusCode
	if code == 0 {
		code = http.StatusFound
	}
	return u.String(), code
}

func wellKnownPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}
