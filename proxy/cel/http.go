package cel

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// RequestFromHTTP builds the request variable from an incoming request. It
// copies no headers and parses no query: both are read lazily from r, so r
// must not change while expressions run. The body is left empty; the
// RequestBody phase sets Body after buffering.
func RequestFromHTTP(r *http.Request) *Request {
	req := &Request{
		Method:   r.Method,
		Host:     hostWithoutPort(r.Host),
		Scheme:   "http",
		URI:      r.RequestURI,
		Protocol: r.Proto,
		Headers:  r.Header,
	}
	if r.TLS != nil {
		req.Scheme = "https"
	}
	if u := r.URL; u != nil {
		req.Path = u.EscapedPath()
		req.RawQuery = u.RawQuery
		// Keep the origin-form target as sent; rebuild it for the
		// absolute form ("GET http://h/p") and client-side requests.
		if !strings.HasPrefix(req.URI, "/") {
			req.URI = u.RequestURI()
		}
		if req.Host == "" {
			req.Host = hostWithoutPort(u.Host)
		}
	}
	return req
}

// SourceFromHTTP builds the source variable from the peer of r: its address
// and, if the client presented a verified certificate, its identity.
func SourceFromHTTP(r *http.Request) *Source {
	s := &Source{}
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		s.Address = r.RemoteAddr
	} else {
		s.Address = host
		s.Port, _ = strconv.Atoi(port) //nolint:errcheck // SplitHostPort gave a numeric port; a bad one reads as 0 (unknown)
	}
	setPeerIdentity(s, r.TLS)
	return s
}

// setPeerIdentity fills identity and SANs from a verified client
// certificate; an unverified one does not count.
func setPeerIdentity(s *Source, cs *tls.ConnectionState) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return
	}
	cert := cs.PeerCertificates[0]
	s.SANs = certSANs(cert)
	if len(cert.URIs) > 0 {
		s.Identity = cert.URIs[0].String()
	} else {
		s.Identity = cert.Subject.CommonName
	}
}

func certSANs(c *x509.Certificate) []string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	out = append(out, c.EmailAddresses...)
	return out
}

// hostWithoutPort strips a port and lowercases; IPv6 keeps its brackets.
func hostWithoutPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && i > strings.LastIndexByte(h, ']') {
		h = h[:i]
	}
	return strings.ToLower(h)
}
