package h1

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
)

// ErrMalformed is wrapped by every error about a backend's reply that does
// not parse.
var ErrMalformed = errors.New("malformed HTTP response")

// Response is a backend's response head.
type Response struct {
	Status int
	Reason string // the status line after the code
	HTTP10 bool   // the backend answered HTTP/1.0
	Header http.Header
	// ContentLength is the body length, or -1 when the body is chunked or
	// ends when the backend closes the connection.
	ContentLength int64
	Chunked       bool
	// NoBody: the status or the request method means no body follows,
	// whatever the head says.
	NoBody bool
	// KeepAlive: the connection can carry another request once the body
	// has been read.
	KeepAlive bool
	// Len is the size of the head in bytes.
	Len int

	vals headerValues
}

// ParseResponse parses the response head at the start of b as net/http's
// Transport would for a request with the given method. It returns
// Incomplete, with a nil error, until the head has ended.
func ParseResponse(b []byte, method string, resp *Response) (Result, error) {
	n := headEnd(b)
	if n < 0 {
		return Incomplete, nil
	}
	s := string(b[:n])
	if resp.Header == nil {
		resp.Header = make(http.Header, 8)
	} else {
		clear(resp.Header)
	}
	resp.vals.reset()
	resp.Len = n
	line, rest := cutLenientLine(s)
	proto, status, ok := cut(line, ' ')
	if !ok {
		return Parsed, fmt.Errorf("%w: status line %q", ErrMalformed, line)
	}
	var http10 bool
	switch proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		return Parsed, fmt.Errorf("%w: protocol %q", ErrMalformed, proto)
	}
	for len(status) > 0 && status[0] == ' ' {
		status = status[1:]
	}
	code, reason, _ := cut(status, ' ')
	resp.Reason, resp.HTTP10 = reason, http10
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return Parsed, fmt.Errorf("%w: status code %q", ErrMalformed, code)
	}
	resp.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if err := parseFields(rest, resp.Header, &resp.vals); err != nil {
		return Parsed, err
	}
	return Parsed, resp.frame(method, http10)
}

// ParseTrailer parses the trailer section after a chunked body into h. It
// returns Incomplete until the section has ended; n is its size.
// Its lines end in CRLF, as net/http requires of a trailer section.
func ParseTrailer(b []byte, h http.Header) (res Result, n int, err error) {
	if len(b) > 1 && b[0] == '\r' && b[1] == '\n' {
		return Parsed, 2, nil
	}
	n = bytes.Index(b, []byte("\r\n\r\n"))
	end := len(b)
	if n >= 0 {
		n += 4
		end = n
	}
	for i := bytes.IndexByte(b[:end], '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return Parsed, 0, fmt.Errorf("%w: trailer line not ended by CRLF", ErrMalformed)
		}
		j := bytes.IndexByte(b[i+1:end], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	if n < 0 {
		return Incomplete, 0, nil
	}
	var hv headerValues
	return Parsed, n, parseFields(string(b[:n]), h, &hv)
}

// headEnd returns the length of the head at the start of b (a line, then
// field lines, then an empty line; LF or CRLF line ends), or -1.
func headEnd(b []byte) int {
	pos := 0
	first := true
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return -1
		}
		line := b[pos : pos+i]
		pos += i + 1
		if !first && (len(line) == 0 || len(line) == 1 && line[0] == '\r') {
			return pos
		}
		first = false
	}
}

func cutLenientLine(s string) (line, rest string) {
	i := indexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// parseFields parses field lines up to the empty line that ends them.
// Values must be free of control bytes; names must be tokens, except that
// names with spaces are dropped as net/http drops them when writing.
func parseFields(s string, h http.Header, hv *headerValues) error {
	for {
		var line string
		line, s = cutLenientLine(s)
		if line == "" {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 9112 §5.2: a proxy may reject obs-fold with a 502.
			return fmt.Errorf("%w: folded header line %q", ErrMalformed, line)
		}
		name, value, ok := cut(line, ':')
		if !ok {
			return fmt.Errorf("%w: header line %q", ErrMalformed, line)
		}
		value = trimOWS(value)
		if !validFieldValue(value) {
			return fmt.Errorf("%w: header %q has a control byte", ErrMalformed, name)
		}
		if !validToken(name) {
			if validToken(removeSpaces(name)) {
				continue
			}
			return fmt.Errorf("%w: header name %q", ErrMalformed, name)
		}
		hv.add(h, canonicalKey(name), value)
	}
}

func removeSpaces(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// frame decides how the body is delimited and whether the connection
// stays open, with net/http's rules.
func (resp *Response) frame(method string, http10 bool) error {
	h := resp.Header
	resp.ContentLength, resp.Chunked = -1, false
	resp.NoBody = method == http.MethodHead || resp.Status < 200 || resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified
	if te, ok := h["Transfer-Encoding"]; ok {
		if len(te) != 1 || !equalFold(te[0], "chunked") || http10 {
			return fmt.Errorf("%w: unsupported transfer encoding %q", ErrMalformed, te)
		}
		resp.Chunked = true
	}
	// A Content-Length is checked even when chunked framing wins over it
	// (RFC 9112 §6.3), as net/http checks it.
	if cls, ok := h["Content-Length"]; ok {
		for _, v := range cls[1:] {
			if v != cls[0] {
				return fmt.Errorf("%w: conflicting Content-Length values %q", ErrMalformed, cls)
			}
		}
		n, err := strconv.ParseUint(cls[0], 10, 63)
		if err != nil {
			return fmt.Errorf("%w: bad Content-Length %q", ErrMalformed, cls[0])
		}
		switch {
		case resp.Chunked:
			delete(h, "Content-Length")
		default:
			if len(cls) > 1 {
				h["Content-Length"] = cls[:1]
			}
			resp.ContentLength = int64(n)
		}
	}
	conn := h["Connection"]
	if http10 {
		resp.KeepAlive = HasToken(conn, "keep-alive")
	} else {
		resp.KeepAlive = !HasToken(conn, "close")
	}
	if resp.NoBody {
		if resp.Status == http.StatusSwitchingProtocols {
			resp.KeepAlive = false
		}
	} else if !resp.Chunked && resp.ContentLength < 0 {
		resp.KeepAlive = false // the body ends when the backend closes
	}
	fixPragma(h)
	return nil
}

// EventStream reports whether h announces Server-Sent Events, which are
// flushed to the client as they arrive.
func EventStream(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	if !containsFold(ct[0], "event-stream") {
		return false // what ParseMediaType would say, without its allocations
	}
	mt, _, _ := mime.ParseMediaType(ct[0]) //nolint:errcheck // an unparsable type is not text/event-stream: mt is empty
	return mt == "text/event-stream"
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if equalFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

func cut(s string, c byte) (before, after string, ok bool) {
	if i := indexByte(s, c); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
