package h1

import (
	"bytes"
	"net/http"
	"strings"
)

// Result is what ParseRequest made of the bytes it was given.
type Result int

const (
	// Incomplete means the head does not end in the bytes given yet.
	Incomplete Result = iota
	// Parsed means the request is in the plain subset and was parsed.
	Parsed
	// Unsupported means anything else: net/http must serve the connection.
	Unsupported
)

// Request is a parsed request head. Its strings share one copy of the
// head; Header is reused by the next ParseRequest on the same Request.
type Request struct {
	Method string
	Target string // origin-form request-target, as sent
	Host   string // the Host field, which is not in Header
	Header http.Header
	// ContentLength is the body length; 0 when the request has none.
	ContentLength int64
	// Close is true when the client asked to close after the response.
	Close bool
	// Len is the size of the head in bytes, the blank line included.
	Len int

	vals headerValues
}

// ParseRequest parses the request head at the start of b when it is in
// the subset the fast path serves: an origin-form HTTP/1.1 request with
// CRLF line ends, one valid Host, token names, values without control
// bytes, at most one Content-Length of plain digits, and no
// Transfer-Encoding, Expect, Upgrade or "Connection: upgrade". Anything
// else is Unsupported, so a caller never interprets what net/http would
// reject or treat specially.
func ParseRequest(b []byte, req *Request) Result {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return partial(b)
	}
	n := end + 4
	s := string(b[:n])
	if req.Header == nil {
		req.Header = make(http.Header, 8)
	} else {
		clear(req.Header)
	}
	req.vals.reset()
	req.Method, req.Target, req.Host = "", "", ""
	req.ContentLength, req.Close, req.Len = 0, false, n

	line, rest, ok := cutLine(s)
	if !ok || !parseRequestLine(line, req) {
		return Unsupported
	}
	hosts, lengths := 0, 0
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return Unsupported
		}
		if line == "" {
			break
		}
		colon := indexByte(line, ':')
		if colon <= 0 {
			return Unsupported // includes obs-fold (leading space)
		}
		name := line[:colon]
		if !validToken(name) {
			return Unsupported // also a space before the colon
		}
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return Unsupported
		}
		key := canonicalKey(name)
		switch key {
		case "Host":
			hosts++
			if hosts > 1 || !plainHost(value) {
				return Unsupported
			}
			req.Host = value
			continue
		case "Content-Length":
			lengths++
			cl, ok := parseLength(value)
			if lengths > 1 || !ok {
				return Unsupported
			}
			req.ContentLength = cl
		case "Transfer-Encoding", "Expect", "Upgrade":
			return Unsupported
		case "Connection":
			for _, tok := range splitTokens(value) {
				switch {
				case equalFold(tok, "close"):
					req.Close = true
				case equalFold(tok, "upgrade"):
					return Unsupported
				}
			}
		}
		req.vals.add(req.Header, key, value)
	}
	if hosts != 1 {
		return Unsupported
	}
	fixPragma(req.Header)
	return Parsed
}

// partial checks the complete lines of a head that has not ended yet: a
// client that ends lines with a bare LF, or sent a request line net/http
// would reject at once, must not wait here for a CRLF CRLF that may never
// come.
func partial(b []byte) Result {
	first := true
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return Incomplete
		}
		if i < 1 || b[i-1] != '\r' || bytes.IndexByte(b[:i-1], '\r') >= 0 {
			return Unsupported
		}
		if first {
			var req Request
			if !parseRequestLine(string(b[:i-1]), &req) {
				return Unsupported
			}
			first = false
		}
		b = b[i+1:]
	}
}

// parseRequestLine accepts "METHOD /target HTTP/1.1".
func parseRequestLine(line string, req *Request) bool {
	sp := indexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	method, rest := line[:sp], line[sp+1:]
	sp = indexByte(rest, ' ')
	if sp <= 0 || rest[sp+1:] != "HTTP/1.1" {
		return false
	}
	target := rest[:sp]
	if !validToken(method) || method == "CONNECT" || target[0] != '/' {
		return false
	}
	if !validTarget(target) {
		return false
	}
	req.Method, req.Target = method, target
	return true
}

// validTarget accepts an origin-form target of visible ASCII in which
// every '%' in the path starts a valid escape: url.ParseRequestURI, which
// net/http applies to every request, rejects a path with a bad escape
// ("/0%", "/%zz") with 400, so such a target must be net/http's to
// answer. The query is not unescaped by net/http and may hold any '%'.
func validTarget(target string) bool {
	inPath := true
	for i := 0; i < len(target); i++ {
		c := target[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return false
		case c == '?':
			inPath = false
		case c == '%' && inPath:
			if i+2 >= len(target) || !isHex(target[i+1]) || !isHex(target[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// cutLine splits off the first CRLF-terminated line. A bare CR or LF
// inside it makes it invalid.
func cutLine(s string) (line, rest string, ok bool) {
	i := indexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	line = s[:i-1]
	if indexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, s[i+1:], true
}

// plainHost accepts host names, IPv4 and bracketed IPv6 literals with an
// optional port: a subset of what net/http accepts.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}

// parseLength accepts 1 to 18 ASCII digits.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fixPragma applies the HTTP/1.0 "Pragma: no-cache" rule net/http applies
// to every message it reads.
func fixPragma(h http.Header) {
	if p, ok := h["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}

func splitTokens(v string) []string {
	var out []string
	for len(v) > 0 {
		i := indexByte(v, ',')
		var tok string
		if i < 0 {
			tok, v = v, ""
		} else {
			tok, v = v[:i], v[i+1:]
		}
		if tok = trimOWS(tok); tok != "" {
			out = append(out, tok)
		}
	}
	return out
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }
