package h1

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// AppendRequestHead appends a request head as net/http's Transport writes
// it: the request line, Host, User-Agent when non-empty (defaultUA when h
// has none), Content-Length
// when the Transport would send one (a body, or POST, PUT and PATCH even
// without one), then the other fields sorted by name
// (Host, User-Agent, Content-Length, Transfer-Encoding and Trailer are not
// taken from h).
func (c *Conn) AppendRequestHead(method, uri, host string, h http.Header, contentLength int64, defaultUA string) {
	out := c.Out()
	b := *out
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	ua, ok := h["User-Agent"]
	switch {
	case len(ua) > 0 && ua[0] != "":
		b = append(b, "User-Agent: "...)
		b = appendFieldValue(b, ua[0])
		b = append(b, "\r\n"...)
	case !ok && defaultUA != "":
		b = append(b, "User-Agent: "...)
		b = append(b, defaultUA...)
		b = append(b, "\r\n"...)
	}
	if contentLength > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, contentLength, 10)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, h, &c.keys, excludeFromRequest)
	b = append(b, "\r\n"...)
	*out = b
}

func excludeFromRequest(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// Framing is how a response body is delimited on the client connection.
type Framing int

const (
	// NoBody is for HEAD, 1xx, 204 and 304 responses.
	NoBody Framing = iota
	// Length delimits by the Content-Length field in the header.
	Length
	// Chunked delimits by chunked transfer coding.
	Chunked
)

// ResponseHead describes a response for AppendResponseHead.
type ResponseHead struct {
	Status  int
	Header  http.Header
	Framing Framing
	// ContentType, when not empty, is a sniffed type to add.
	ContentType string
	// Close adds "Connection: close".
	Close bool
}

// AppendResponseHead appends a response head as net/http's server writes
// it for an HTTP/1.1 request: the status line, the fields of h sorted by
// name except those the framing rules out, then Date (when h has none),
// Content-Type, Connection and Transfer-Encoding.
func (c *Conn) AppendResponseHead(r *ResponseHead) {
	out := c.Out()
	b := appendStatusLine(*out, r.Status)
	var exclude func(string) bool
	switch {
	case r.Status == http.StatusNotModified:
		exclude = excludeNotModified
	case r.Status < 200 || r.Status == http.StatusNoContent:
		exclude = excludeNoBody
	case r.Framing == Chunked:
		exclude = excludeNoBody
	default:
		exclude = excludeTE
	}
	if r.Close {
		switch r.Status {
		case http.StatusNotModified:
			exclude = excludeNotModifiedClose
		case http.StatusNoContent:
			exclude = excludeNoBodyClose
		default:
			if r.Framing == Chunked {
				exclude = excludeNoBodyClose
			} else {
				exclude = excludeTEClose
			}
		}
	}
	b = appendHeader(b, r.Header, &c.keys, exclude)
	if _, ok := r.Header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = appendDate(b)
		b = append(b, "\r\n"...)
	}
	if r.ContentType != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, r.ContentType...)
		b = append(b, "\r\n"...)
	}
	if r.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	if r.Framing == Chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "\r\n"...)
	*out = b
}

// AppendInformational appends a 1xx head with the fields of h, as
// net/http writes one (without Content-Length and Transfer-Encoding).
func (c *Conn) AppendInformational(code int, h http.Header) {
	out := c.Out()
	b := appendStatusLine(*out, code)
	b = appendHeader(b, h, &c.keys, excludeNoBody)
	b = append(b, "\r\n"...)
	*out = b
}

func excludeTE(k string) bool { return k == "Transfer-Encoding" }
func excludeTEClose(k string) bool {
	return k == "Transfer-Encoding" || k == "Connection"
}
func excludeNoBody(k string) bool { return k == "Content-Length" || k == "Transfer-Encoding" }
func excludeNoBodyClose(k string) bool {
	return k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection"
}
func excludeNotModified(k string) bool {
	return k == "Content-Length" || k == "Transfer-Encoding" || k == "Content-Type"
}
func excludeNotModifiedClose(k string) bool {
	return excludeNotModified(k) || k == "Connection"
}

func appendStatusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
	} else {
		if code < 100 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, " status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// dateCache holds the Date value for the current second.
type dateCache struct {
	sec int64
	val []byte
}

var date atomic.Pointer[dateCache]

func appendDate(b []byte) []byte {
	now := time.Now()
	sec := now.Unix()
	d := date.Load()
	if d == nil || d.sec != sec {
		d = &dateCache{sec: sec, val: now.UTC().AppendFormat(nil, http.TimeFormat)}
		date.Store(d)
	}
	return append(b, d.val...)
}
