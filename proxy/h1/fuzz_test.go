package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memConn is a net.Conn over bytes in memory: reads return at most step
// bytes of in (so that heads and chunks arrive split at every offset the
// fuzzer picks), writes go to out. It has no file descriptor, so Conn
// uses its Read and Write.
type memConn struct {
	in   []byte
	step int
	out  bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.step, len(c.in))
	copy(p, c.in[:n])
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func newMemConn(in []byte, step uint8) *memConn {
	return &memConn{in: in, step: int(step%64) + 1}
}

// comparableHeader returns a copy of h without the fields both readers
// move out of the header or treat as framing, and without names that are
// not tokens (net/http keeps "Bad Name"; ParseResponse drops it, as
// net/http drops it when writing).
func comparableHeader(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		switch k {
		case "Connection", "Transfer-Encoding", "Content-Length", "Trailer":
			continue
		}
		if validToken(k) {
			out[k] = v
		}
	}
	return out
}

// FuzzParseResponse checks that whatever response head ParseResponse
// accepts, net/http's ReadResponse accepts too and reads the same way:
// status, header fields, body framing and connection reuse.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 200 OK\nPragma: no-cache\nBad Name: 1\nX-A: \xff\t\n\n",
		"HTTP/1.1 304\r\nContent-Length: 9\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		var resp Response
		res, err := ParseResponse(b, method, &resp)
		if res != Parsed || err != nil {
			return
		}
		std, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b[:resp.Len])), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("accepted what net/http rejects (%v): %q", err, b)
		}
		code := strconv.Itoa(resp.Status)
		if std.StatusCode != resp.Status || strings.TrimPrefix(strings.TrimPrefix(std.Status, code), " ") != resp.Reason || (std.ProtoMinor == 0) != resp.HTTP10 {
			t.Fatalf("status line read differently: %q\nours %d %q 1.0=%v\nstd %q %d.%d", b, resp.Status, resp.Reason, resp.HTTP10, std.Status, std.ProtoMajor, std.ProtoMinor)
		}
		ours, theirs := comparableHeader(resp.Header), comparableHeader(std.Header)
		if !reflect.DeepEqual(ours, theirs) {
			t.Fatalf("headers differ: %q\nours %q\nstd  %q", b, ours, theirs)
		}
		if resp.NoBody {
			return
		}
		stdChunked := len(std.TransferEncoding) == 1 && std.TransferEncoding[0] == "chunked"
		if resp.Chunked != stdChunked {
			t.Fatalf("chunked: ours %v std %q: %q", resp.Chunked, std.TransferEncoding, b)
		}
		if !resp.Chunked && resp.ContentLength != std.ContentLength {
			t.Fatalf("length: ours %d std %d: %q", resp.ContentLength, std.ContentLength, b)
		}
		if (resp.Chunked || resp.ContentLength >= 0) && resp.KeepAlive == std.Close {
			t.Fatalf("keep-alive: ours %v, std close %v: %q", resp.KeepAlive, std.Close, b)
		}
	})
}

const chunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

// readChunked reads a chunked body with BodyReader, the bytes arriving
// step at a time.
func readChunked(body []byte, step uint8) ([]byte, http.Header, error) {
	c := NewConn(newMemConn(append([]byte(chunkedHead), body...), step), 4<<10)
	var resp Response
	if err := c.ReadResponseHead("GET", &resp); err != nil {
		return nil, nil, err
	}
	c.Discard(resp.Len)
	r := NewBodyReader(c, &resp)
	got, err := io.ReadAll(r)
	if err == nil && !r.Done() {
		err = errors.New("read to EOF but not done")
	}
	return got, r.Trailer, err
}

// relayChunked relays a chunked body with RelayBody and returns what the
// client connection received.
func relayChunkedBody(body []byte, step uint8, flush bool) ([]byte, error) {
	src := NewConn(newMemConn(append([]byte(chunkedHead), body...), step), 4<<10)
	out := &memConn{step: 1}
	dst := NewConn(out, 4<<10)
	var resp Response
	if err := src.ReadResponseHead("GET", &resp); err != nil {
		return nil, err
	}
	src.Discard(resp.Len)
	if err := RelayBody(dst, src, &resp, flush); err != nil {
		return nil, err
	}
	if err := dst.Flush(); err != nil {
		return nil, err
	}
	return out.out.Bytes(), nil
}

// stdChunked reads a chunked response with net/http: the body and the
// trailer.
func stdChunked(body []byte) ([]byte, http.Header, error) {
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(chunkedHead), bytes.NewReader(body))), nil)
	if err != nil {
		return nil, nil, err
	}
	got, err := io.ReadAll(resp.Body)
	return got, resp.Trailer, err
}

// FuzzChunkedBody checks the chunked decoding of BodyReader and RelayBody
// against net/http: a body either reader accepts decodes to what
// httputil.NewChunkedReader decodes, with the trailer net/http reads,
// and what RelayBody writes is valid chunked coding of the same body.
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"2\r\nab\r\n1;x=y\r\nc\r\n0\r\nX-Sum: 1\r\nX-Late: 2\r\n\r\n",
		"A \r\n0123456789\r\n0\r\n\r\n",
		"5\nhello\n0\n\n",
		" 5\r\nhello\r\n0\r\n\r\n",
		"5 ;ext\r\nhello\r\n0\r\n\r\n",
		"0000000000000000005\r\nhello\r\n0\r\n\r\n",
		"ffffffffffffffff\r\n",
		"3\r\nabc\r\n0\r\nBad Name: x\r\n\r\n",
		"3\r\nabc\r\n0\r\n",
	} {
		f.Add([]byte(s), uint8(7), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, step uint8, flush bool) {
		want, refErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(body)))
		got, trailer, err := readChunked(body, step)
		if err == nil {
			if refErr != nil {
				t.Fatalf("BodyReader accepted what httputil.NewChunkedReader rejects (%v): %q", refErr, body)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("BodyReader decoded %q, httputil %q: %q", got, want, body)
			}
			stdBody, stdTrailer, stdErr := stdChunked(body)
			if stdErr != nil {
				t.Fatalf("BodyReader accepted what net/http rejects (%v): %q", stdErr, body)
			}
			if !bytes.Equal(stdBody, got) || !reflect.DeepEqual(comparableHeader(trailer), comparableHeader(stdTrailer)) {
				t.Fatalf("net/http read %q %q, BodyReader %q %q: %q", stdBody, stdTrailer, got, trailer, body)
			}
		}
		relayed, rerr := relayChunkedBody(body, step, flush)
		if (rerr == nil) != (err == nil) {
			t.Fatalf("RelayBody error %v, BodyReader error %v: %q", rerr, err, body)
		}
		if rerr != nil {
			return
		}
		// What was relayed is valid chunked coding of the same body and
		// trailer.
		again, againTrailer, err := stdChunked(relayed)
		if err != nil {
			t.Fatalf("relayed invalid chunked coding (%v): %q from %q", err, relayed, body)
		}
		if !bytes.Equal(again, got) || !reflect.DeepEqual(comparableHeader(againTrailer), comparableHeader(trailer)) {
			t.Fatalf("relayed %q %q, read %q %q", again, againTrailer, got, trailer)
		}
	})
}

// headerFrom builds a header from fuzz input as code does (Header.Add,
// which canonicalizes valid names): fields separated by "\x00", each
// "name:value" split at the first ':'. Names and values may hold any
// other byte, CR and LF included.
func headerFrom(s string) http.Header {
	h := http.Header{}
	for line := range strings.SplitSeq(s, "\x00") {
		name, value, _ := strings.Cut(line, ":")
		h.Add(name, value)
	}
	return h
}

// headerWrite is the reference: what http.Header.Write writes for h.
func headerWrite(t *testing.T, h http.Header) string {
	t.Helper()
	var b strings.Builder
	if err := h.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkLines fails unless head ends in CRLF CRLF, has no CR or LF but in
// line ends, and every line after the first is "token: value".
func checkLines(t *testing.T, head string) {
	t.Helper()
	if !strings.HasSuffix(head, "\r\n\r\n") || strings.Count(head, "\n") != strings.Count(head, "\r\n") || strings.Count(head, "\r") != strings.Count(head, "\r\n") {
		t.Fatalf("bare CR or LF in a written head: %q", head)
	}
	for _, l := range strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")[1:] {
		if name, _, ok := strings.Cut(l, ": "); !ok || !validToken(name) {
			t.Fatalf("bad field line %q in %q", l, head)
		}
	}
}

// plainValues reports whether every value of h is free of control bytes
// other than tab, CR and LF (which the writers turn into spaces), so that
// net/http reads the written head back.
func plainValues(h http.Header) bool {
	for _, vs := range h {
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

// FuzzWriteHead checks that request and response heads written from a
// header with arbitrary names and values never carry an injected line:
// CR and LF in values become spaces and names that are not tokens are
// dropped, so the fields are exactly what http.Header.Write writes, and
// net/http reads the written request back with those fields.
func FuzzWriteHead(f *testing.F) {
	f.Add("X-A:1\x00X-A:2\x00B:\r\nInjected: yes", uint16(200), uint8(0))
	f.Add("Bad Name:x\x00Bad\r\nName:y\x00:empty\x00Te:trailers", uint16(204), uint8(1))
	f.Add("X-Obs:caf\xc3\xa9\x00User-Agent: \r\n ua\x00Date:now", uint16(999), uint8(2))
	f.Add("Content-Type:text/plain\x00Connection:close\x00Transfer-Encoding:chunked\x00Host:evil\r\nX: y", uint16(304), uint8(7))
	f.Fuzz(func(t *testing.T, fields string, status uint16, mode uint8) {
		h := headerFrom(fields)
		c := NewConn(&memConn{step: 1}, 4<<10)

		c.AppendRequestHead(http.MethodPost, "/p?q", "example.com", h, int64(mode), "")
		req := string(*c.Out())
		*c.Out() = (*c.Out())[:0]
		checkLines(t, req)
		want := "POST /p?q HTTP/1.1\r\nHost: example.com\r\n"
		if ua := h["User-Agent"]; len(ua) > 0 && ua[0] != "" {
			want += "User-Agent: " + trimOWS(strings.NewReplacer("\r", " ", "\n", " ").Replace(ua[0])) + "\r\n"
		}
		want += "Content-Length: " + strconv.Itoa(int(mode)) + "\r\n"
		rest := h.Clone()
		for _, k := range []string{"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"} {
			delete(rest, k)
		}
		want += headerWrite(t, rest) + "\r\n"
		if req != want {
			t.Fatalf("request head\n%q\nwant\n%q", req, want)
		}
		if plainValues(h) {
			std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req)))
			if err != nil {
				t.Fatalf("net/http cannot read the written request (%v): %q", err, req)
			}
			if std.Host != "example.com" || std.ContentLength != int64(mode) {
				t.Fatalf("net/http read host %q length %d from %q", std.Host, std.ContentLength, req)
			}
		}

		code := int(status%900) + 100
		c.AppendResponseHead(&ResponseHead{Status: code, Header: h, Framing: Framing(mode % 3), ContentType: "text/plain", Close: mode&4 != 0})
		resp := string(*c.Out())
		*c.Out() = (*c.Out())[:0]
		checkLines(t, resp)
		if plainValues(h) {
			_, err := http.ReadResponse(bufio.NewReader(strings.NewReader(resp)), &http.Request{Method: http.MethodHead})
			if err != nil && strings.Contains(err.Error(), "malformed") {
				t.Fatalf("net/http cannot read the written response (%v): %q", err, resp)
			}
		}

		c.AppendInformational(103, h)
		info := string(*c.Out())
		*c.Out() = (*c.Out())[:0]
		checkLines(t, info)
		if want := "HTTP/1.1 103 Early Hints\r\n"; !strings.HasPrefix(info, want) {
			t.Fatalf("informational head %q", info)
		}
	})
}
