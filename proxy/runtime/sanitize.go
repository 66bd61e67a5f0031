package runtime

import (
	"net/http"
	"path"
	"strings"
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
//     WebSocket and other upgrades are untouched.
func sanitize(r *http.Request) {
	p := r.URL.Path
	if strings.Contains(p, "/.") || strings.Contains(p, "//") {
		clean := path.Clean(p)
		if clean == "." {
			clean = "/"
		}
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if !strings.HasPrefix(clean, "/") {
			clean = "/" + clean
		}
		if clean != p {
			r.URL.Path = clean
			// Re-escape from the cleaned path instead of forwarding the
			// client's original encoding.
			r.URL.RawPath = ""
		}
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
}
