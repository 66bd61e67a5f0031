package dataplane

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// framingConn sits between a cleartext HTTP/1.x connection and net/http
// and follows the request framing, so that it sees every request head
// before net/http does. net/http serves a request that has both
// Content-Length and Transfer-Encoding with the chunked framing and keeps
// the connection, and ignores Transfer-Encoding in HTTP/1.0 requests;
// behind a front end that frames by Content-Length either way, the bytes
// after the body the front end saw are then served as another request
// (request smuggling). RFC 9112 §6.1 lets a server close after such a
// request; nginx answers 400 and closes, and so do we: framingConn
// replaces such a head with a request line net/http rejects with
// "400 Bad Request" and "Connection: close", and drops every byte the
// client sends after it, so none is read as a request.
//
// Following the framing means parsing what net/http parses: request
// heads (lines end in LF, an optional CR before it, continuation lines
// join the previous field), Content-Length bodies and the chunked coding
// with net/http's own rules (CRLF line ends, hex sizes of at most 16
// digits, extensions after ';', trailer fields). Wherever framingConn
// cannot follow a message as net/http would read it (a malformed head or
// chunk, a conflicting or invalid Content-Length, a transfer coding other
// than chunked), it passes that message's bytes on and drops the rest:
// net/http answers such a message with an error or reads it as
// broken, and the connection closes after it either way. An HTTP/2
// preface, CONNECT and upgrade requests (after which the bytes are no
// longer HTTP/1.1 requests) turn the check off for the rest of the
// connection; the handler then closes the connection after any response
// that is not 101 Switching Protocols (see upgrading).
type framingConn struct {
	net.Conn
	maxHead int

	state  framingState
	held   []byte // a head, or a chunk line, not complete yet
	out    []byte // bytes ready for net/http
	remain uint64 // body or chunk data bytes left
	end    bool   // nothing after out: what the client sends is dropped
	buf    []byte

	// passing is set once the check is off (see upgrading).
	passing atomic.Bool
}

type framingState int

const (
	inHead framingState = iota
	inBody
	inChunkLine
	inChunkData
	inChunkEnd
	inTrailer
	inPass
)

// maxChunkLine is net/http's limit for a chunk-size line.
const maxChunkLine = 4096

// badFramingHead is what net/http reads instead of a request head that
// must be refused: a request line it rejects with 400 and a close.
var badFramingHead = []byte("BAD-FRAMING\r\n\r\n")

func newFramingConn(c net.Conn, maxHeaderBytes int) *framingConn {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	// net/http allows 4096 bytes more than MaxHeaderBytes (its bufio
	// slack); a head larger than that is answered with 431 anyway.
	return &framingConn{Conn: c, maxHead: maxHeaderBytes + 4096, buf: make([]byte, 4096)}
}

func (c *framingConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.end {
			// Nothing more is passed on, but the read still waits on
			// the socket: net/http reads in the background while a
			// handler runs, and an io.EOF there would cancel that
			// request as if the client had gone. Its errors (the
			// deadline net/http sets to stop that read, or the
			// client's close) are what net/http expects.
			if _, err := c.Conn.Read(c.buf); err != nil {
				return 0, err
			}
			continue
		}
		n, err := c.Conn.Read(c.buf)
		c.feed(c.buf[:n])
		if err != nil {
			if len(c.out) > 0 {
				break // the error repeats on the next read
			}
			if err == io.EOF && len(c.held) > 0 {
				// An incomplete message: net/http reads it as such.
				c.out, c.held = c.held, nil
				break
			}
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	if len(c.out) == 0 {
		c.out = nil
	}
	return n, nil
}

// CloseWrite keeps net/http's graceful close (FIN, then wait) working.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// feed moves b through the framing state machine into out.
func (c *framingConn) feed(b []byte) {
	for len(b) > 0 && !c.end {
		switch c.state {
		case inPass:
			c.out = append(c.out, b...)
			return
		case inBody, inChunkData:
			n := uint64(len(b))
			n = min(n, c.remain)
			c.out = append(c.out, b[:n]...)
			b = b[n:]
			c.remain -= n
			if c.remain == 0 {
				if c.state == inBody {
					c.state = inHead
				} else {
					c.state = inChunkEnd
				}
			}
		case inChunkEnd:
			// Exactly CRLF after chunk data, as net/http requires.
			c.held = append(c.held, b[0])
			b = b[1:]
			if len(c.held) == 2 {
				ok := c.held[0] == '\r' && c.held[1] == '\n'
				c.release()
				if !ok {
					c.end = true
					return
				}
				c.state = inChunkLine
			}
		case inHead, inChunkLine, inTrailer:
			c.held = append(c.held, b...)
			b = nil
			c.scan()
		}
	}
}

// release passes the held bytes on.
func (c *framingConn) release() {
	c.out = append(c.out, c.held...)
	c.held = c.held[:0]
}

// scan looks for the end of the head, chunk line or trailer in held and
// moves on to what follows it.
func (c *framingConn) scan() {
	// One block per call: what follows it goes through feed again.
	if len(c.held) > 0 && !c.end && (c.state == inHead || c.state == inChunkLine || c.state == inTrailer) {
		var n int
		switch c.state {
		case inHead, inTrailer:
			n = blockEnd(c.held, c.state == inTrailer)
			if n < 0 {
				if len(c.held) > c.maxHead {
					c.release() // net/http answers 431 and closes
					c.end = true
				}
				return
			}
		case inChunkLine:
			n = bytes.IndexByte(c.held, '\n') + 1
			if n == 0 {
				if len(c.held) > maxChunkLine {
					c.release()
					c.end = true
				}
				return
			}
		}
		rest := bytes.Clone(c.held[n:])
		c.held = c.held[:n]
		switch c.state {
		case inHead:
			c.head()
		case inTrailer:
			c.release()
			c.state = inHead
		case inChunkLine:
			size, ok := chunkSize(c.held)
			c.release()
			switch {
			case !ok:
				c.end = true // net/http fails the body: the connection closes
			case size == 0:
				c.state = inTrailer
			default:
				c.state, c.remain = inChunkData, size
			}
		}
		c.held = c.held[:0]
		if !c.end && len(rest) > 0 {
			c.feed(rest)
		}
	}
}

// head decides what follows the complete request head in held.
func (c *framingConn) head() {
	h, ok := parseFraming(c.held)
	switch {
	case !ok:
		c.release()
		c.end = true
	case h.pass:
		c.release()
		c.state = inPass
		c.passing.Store(true)
	case len(h.te) > 0 && (len(h.cl) > 0 || h.minor == 0):
		// RFC 9112 §6.1: Transfer-Encoding with Content-Length, or in
		// HTTP/1.0, is faulty framing. Refused as nginx does.
		c.held = c.held[:0]
		c.out = append(c.out, badFramingHead...)
		c.end = true
	case len(h.te) > 0:
		c.release()
		if len(h.te) != 1 || !strings.EqualFold(h.te[0], "chunked") {
			c.end = true // net/http answers 501 and closes
			return
		}
		c.state = inChunkLine
	case len(h.cl) > 0:
		c.release()
		n, ok := contentLength(h.cl)
		if !ok {
			c.end = true // net/http answers 400 and closes
			return
		}
		if n > 0 {
			c.state, c.remain = inBody, n
		}
	default:
		c.release()
	}
}

// framing is what a request head says about the message's framing.
type framing struct {
	minor  int
	te, cl []string
	pass   bool // the bytes after this head are not HTTP/1.1 requests
}

// parseFraming reads the request line and the framing fields of a head.
// ok is false for heads net/http rejects too.
func parseFraming(head []byte) (f framing, ok bool) {
	lines := strings.Split(string(head), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	method, rest, ok1 := strings.Cut(lines[0], " ")
	_, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return f, false
	}
	if method == "PRI" && proto == "HTTP/2.0" {
		f.pass = true // h2c with prior knowledge
		return f, true
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return f, false
	}
	f.minor = minor
	if method == "CONNECT" {
		f.pass = true
		return f, true
	}
	var names, values []string
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(values) == 0 {
				return f, false
			}
			values[len(values)-1] += " " + strings.Trim(l, " \t")
			continue
		}
		name, value, found := strings.Cut(l, ":")
		if !found {
			return f, false
		}
		names = append(names, name)
		values = append(values, strings.Trim(value, " \t"))
	}
	connUpgrade, upgrade := false, false
	for i, name := range names {
		v := strings.Trim(values[i], " \t")
		switch {
		case strings.EqualFold(name, "Transfer-Encoding"):
			f.te = append(f.te, v)
		case strings.EqualFold(name, "Content-Length"):
			f.cl = append(f.cl, v)
		case strings.EqualFold(name, "Upgrade"):
			upgrade = true
		case strings.EqualFold(name, "Connection"):
			for tok := range strings.SplitSeq(v, ",") {
				if strings.EqualFold(strings.Trim(tok, " \t"), "upgrade") {
					connUpgrade = true
				}
			}
		}
	}
	f.pass = connUpgrade && upgrade
	return f, true
}

// blockEnd returns the length of the head (or trailer) at the start of b,
// up to and including the empty line that ends it, or -1. A head's first
// line is the request line; a trailer may be empty.
func blockEnd(b []byte, trailer bool) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i]
		if (trailer || start > 0) && (len(line) == 0 || len(line) == 1 && line[0] == '\r') {
			return start + i + 1
		}
		start += i + 1
	}
}

// chunkSize parses a chunk-size line with net/http's rules: CRLF at the
// end and no other CR, trailing spaces and an extension after ';'
// ignored, 1 to 16 hex digits.
func chunkSize(line []byte) (uint64, bool) {
	if len(line) < 2 || line[len(line)-2] != '\r' || bytes.IndexByte(line, '\r') != len(line)-2 || len(line)-2 >= maxChunkLine {
		return 0, false
	}
	line = bytes.TrimRight(line[:len(line)-2], " \t\r\n")
	line, _, _ = bytes.Cut(line, []byte(";"))
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	var n uint64
	for _, b := range line {
		var d byte
		switch {
		case '0' <= b && b <= '9':
			d = b - '0'
		case 'a' <= b && b <= 'f':
			d = b - 'a' + 10
		case 'A' <= b && b <= 'F':
			d = b - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	return n, true
}

// contentLength reads Content-Length values as net/http does: equal
// duplicates allowed, plain decimal digits.
func contentLength(vals []string) (uint64, bool) {
	for _, v := range vals[1:] {
		if v != vals[0] {
			return 0, false
		}
	}
	v := vals[0]
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 63)
	return n, err == nil
}

// framingListener wraps the connections of a cleartext bind served by
// net/http alone in framingConns.
type framingListener struct {
	net.Listener
	maxHeaderBytes int
}

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newFramingConn(c, l.maxHeaderBytes), nil
}

type framingKey struct{}

// withFramingConn is the http.Server's ConnContext: it lets the handler
// find the connection's framingConn.
func withFramingConn(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingKey{}, fc)
	}
	return ctx
}

// upgrading reports whether the request's connection has stopped
// following the framing (an upgrade or CONNECT request on it). Such a
// connection must close after any response but 101: a backend that
// refuses the upgrade would otherwise leave a keep-alive connection
// whose later requests are not checked.
func upgrading(r *http.Request) bool {
	fc, ok := r.Context().Value(framingKey{}).(*framingConn)
	return ok && fc.passing.Load()
}
