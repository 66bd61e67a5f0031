package h1

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// isToken is the RFC 9110 tchar set, the bytes allowed in methods and
// header field names.
var isToken = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValueByte reports whether c may appear in a field value: visible
// ASCII, space, tab and obs-text (0x80-0xff), as net/textproto accepts.
func validValueByte(c byte) bool {
	return c >= 0x20 && c != 0x7f || c == '\t'
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isToken[s[i]] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether every byte of v may appear in a field
// value.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if !validValueByte(v[i]) {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing spaces and tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// commonKeys interns the canonical form of frequent header names, so that
// parsing them in another case allocates nothing.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Origin", "Age", "Allow", "Authorization", "Cache-Control",
		"Connection", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Location", "Content-Range", "Content-Type", "Cookie",
		"Date", "Etag", "Expect", "Expires", "Forwarded", "From", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Last-Modified", "Link", "Location", "Origin", "Pragma",
		"Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range",
		"Referer", "Retry-After", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Server", "Set-Cookie", "Strict-Transport-Security", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent",
		"Vary", "Via", "Www-Authenticate", "X-Content-Type-Options", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"Traceparent", "Tracestate",
	} {
		m[k] = k
	}
	return m
}()

// canonicalKey returns the canonical form of a valid token name, as
// textproto.CanonicalMIMEHeaderKey does, without allocating when name is
// already canonical or common.
func canonicalKey(name string) string {
	canonical := true
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
			break
		}
		upper = c == '-'
	}
	if canonical {
		return name
	}
	var buf [64]byte
	if len(name) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(name)
	}
	b := buf[:len(name)]
	upper = true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if k, ok := commonKeys[string(b)]; ok {
		return k
	}
	return string(b)
}

// headerValues hands out one-element value slices from a reused backing
// array. Each slice has capacity 1, so an append by a filter copies
// instead of overwriting the next header's value.
type headerValues struct{ vals []string }

func (hv *headerValues) reset() {
	clear(hv.vals)
	hv.vals = hv.vals[:0]
}

func (hv *headerValues) add(h http.Header, key, value string) {
	if old, ok := h[key]; ok {
		h[key] = append(old, value)
		return
	}
	hv.vals = append(hv.vals, value)
	n := len(hv.vals)
	h[key] = hv.vals[n-1 : n : n]
}

// HasToken reports whether a comma-separated header value list contains
// token, compared case-insensitively.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(trimOWS(part), token) {
				return true
			}
		}
	}
	return false
}

// RemoveHopByHop deletes the hop-by-hop fields of h: those named in
// Connection and the fixed RFC 2616 list, as httputil.ReverseProxy does.
func RemoveHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = trimOWS(name); name != "" {
				delete(h, canonicalKey(name))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// appendHeader appends "Key: value\r\n" for every field of h but the
// excluded ones, keys sorted as net/http writes them. Values have CR and
// LF replaced by spaces and are trimmed, like http.Header.Write; names
// that are not tokens are dropped.
func appendHeader(dst []byte, h http.Header, fields *[]field, exclude func(string) bool) []byte {
	fs := (*fields)[:0]
	for k, vs := range h {
		if exclude == nil || !exclude(k) {
			fs = append(fs, field{k, vs})
		}
	}
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.name, b.name) })
	for _, f := range fs {
		if !validToken(f.name) {
			continue
		}
		for _, v := range f.values {
			dst = append(dst, f.name...)
			dst = append(dst, ": "...)
			dst = appendFieldValue(dst, v)
			dst = append(dst, "\r\n"...)
		}
	}
	clear(fs)
	*fields = fs[:0]
	return dst
}

// field is a header field with its values, scratch for sorting a header by name.
type field struct {
	name   string
	values []string
}

func appendFieldValue(dst []byte, v string) []byte {
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		// Byte by byte, as http.Header.Write: strings.Map would also turn
		// invalid UTF-8 into U+FFFD.
		b := []byte(v)
		for i, c := range b {
			if c == '\r' || c == '\n' {
				b[i] = ' '
			}
		}
		v = string(b)
	}
	return append(dst, trimOWS(v)...)
}
