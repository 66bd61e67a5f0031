package dataplane

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/router"
)

// sanitize fixes up a request before routing, closing two known ways of
// getting past path-based routing:
//
//   - dot segments and repeated slashes ("/public/../admin", "//admin")
//     are resolved, so the path that is matched is the path the backend
//     acts on;
//   - "Upgrade: h2c" is dropped: an HTTP/1.1 upgrade to cleartext HTTP/2
//     forwarded to a backend would turn the connection into a tunnel that
//     bypasses routing for every later request on it (h2c smuggling).
//     WebSocket and other upgrades are untouched;
//   - the fields the client names in Connection are removed, and
//     Connection with them, before any of our own processing (filters,
//     CEL transformations, JWT claim and ext-auth headers). ReverseProxy
//     and the fast path remove the fields named in Connection from the
//     outgoing request after those changes, so a client's
//     "Connection: x-user" would otherwise delete an X-User header the
//     gateway set for a backend that trusts it (the class of Traefik
//     CVE-2024-45410).
func sanitize(r *http.Request) {
	if p, clean := r.URL.Path, router.CleanPath(r.URL.Path); clean != p {
		r.URL.Path = clean
		// Re-escape from the cleaned path instead of forwarding the
		// client's original encoding.
		r.URL.RawPath = ""
	}
	if up := r.Header["Upgrade"]; len(up) > 0 {
		for _, v := range up {
			if strings.Contains(strings.ToLower(v), "h2c") {
				r.Header.Del("Upgrade")
				r.Header.Del("Http2-Settings")
				// net/http and ReverseProxy treat a request as an
				// upgrade only when Connection names "upgrade".
				r.Header.Del("Connection")
				break
			}
		}
	}
	stripConnectionFields(r.Header)
}

// stripConnectionFields deletes the fields named in Connection and
// Connection itself. Only the "upgrade" option is kept (as
// "Connection: Upgrade", with the Upgrade field), because ReverseProxy
// recognises an upgrade request by it.
func stripConnectionFields(h http.Header) {
	conn, ok := h["Connection"]
	if !ok {
		return
	}
	upgrade := false
	for _, v := range conn {
		for name := range strings.SplitSeq(v, ",") {
			name = textproto.TrimString(name)
			if strings.EqualFold(name, "upgrade") {
				upgrade = true
				continue
			}
			if name != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	if upgrade {
		h["Connection"] = []string{"Upgrade"}
	} else {
		delete(h, "Connection")
	}
}
