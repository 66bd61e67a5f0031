package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseResponseFraming(t *testing.T) {
	for _, c := range []struct {
		name, raw, method string
		cl                int64
		chunked, noBody   bool
		keepAlive         bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 5, false, false, true},
		{"repeated equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "GET", 5, false, false, true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", "GET", -1, true, false, true},
		{"chunked wins", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", -1, true, false, true},
		{"until close", "HTTP/1.1 200 OK\r\n\r\n", "GET", -1, false, false, false},
		{"close asked", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", 0, false, false, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", "GET", 1, false, false, false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n", "GET", 1, false, false, true},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD", 9, false, true, true},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", -1, false, true, true},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n", "GET", 4, false, true, true},
		{"103", "HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n", "GET", -1, false, true, true},
		{"lf only", "HTTP/1.1 200 OK\nContent-Length: 2\n\n", "GET", 2, false, false, true},
		{"no reason", "HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n", "GET", 0, false, false, true},
	} {
		var resp Response
		res, err := ParseResponse([]byte(c.raw+"rest"), c.method, &resp)
		if res != Parsed || err != nil {
			t.Errorf("%s: %v %v", c.name, res, err)
			continue
		}
		if resp.ContentLength != c.cl || resp.Chunked != c.chunked || resp.NoBody != c.noBody || resp.KeepAlive != c.keepAlive || resp.Len != len(c.raw) {
			t.Errorf("%s: got %+v", c.name, resp)
		}
	}
}

func TestParseResponseRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"bad code":           "HTTP/1.1 2x0 OK\r\n\r\n",
		"short code":         "HTTP/1.1 20 OK\r\n\r\n",
		"bad proto":          "HTTP/2.0 200 OK\r\n\r\n",
		"no space":           "HTTP/1.1\r\n\r\n",
		"conflicting length": "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"bad length":         "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"gzip":               "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"two encodings":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"obs-fold":           "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n",
		"control byte":       "HTTP/1.1 200 OK\r\nX-A: \x00\r\n\r\n",
		"bad name":           "HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n",
		"no colon":           "HTTP/1.1 200 OK\r\nX-A\r\n\r\n",
	} {
		var resp Response
		if _, err := ParseResponse([]byte(raw), "GET", &resp); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	var resp Response
	if res, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nX: 1\r\n"), "GET", &resp); res != Incomplete || err != nil {
		t.Errorf("incomplete: %v %v", res, err)
	}
	// A name with a space is dropped, as net/http drops it when writing.
	if _, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n"), "GET", &resp); err != nil || len(resp.Header) != 1 {
		t.Errorf("space in name: %v %v", err, resp.Header)
	}
}

// pair returns two ends of a loopback TCP connection.
func pair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		ch <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b = <-ch:
	case err := <-errc:
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	a.SetDeadline(time.Now().Add(10 * time.Second))
	b.SetDeadline(time.Now().Add(10 * time.Second))
	return a, b
}

// relay writes raw from a "backend", relays it through RelayBody and
// returns what a client reads.
func relay(t *testing.T, raw string, flush bool) (string, error) {
	t.Helper()
	be, px := pair(t)
	cl, pc := pair(t)
	go func() {
		if _, err := io.WriteString(be, raw); err != nil {
			t.Error(err)
		}
		be.Close()
	}()
	src, dst := NewConn(px, 4<<10), NewConn(pc, 4<<10)
	var resp Response
	if err := src.ReadResponseHead("GET", &resp); err != nil {
		return "", err
	}
	src.Discard(resp.Len)
	framing := Length
	if resp.Chunked || resp.ContentLength < 0 {
		framing = Chunked
	}
	dst.AppendResponseHead(&ResponseHead{Status: resp.Status, Header: resp.Header, Framing: framing})
	err := RelayBody(dst, src, &resp, flush)
	if ferr := dst.Flush(); err == nil {
		err = ferr
	}
	pc.Close()
	got, rerr := io.ReadAll(cl)
	if rerr != nil {
		t.Fatalf("client read: %v", rerr)
	}
	return string(got), err
}

func TestRelayBody(t *testing.T) {
	big := strings.Repeat("0123456789", 5000)
	for _, c := range []struct {
		name, raw string
		want      string
		trailer   http.Header
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", "hello", nil},
		{"big length", "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n" + big, big, nil},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2 \r\nde\r\n0\r\nX-Sum: 5\r\nX-Other: a\r\n\r\n", "abcde", http.Header{"X-Sum": {"5"}, "X-Other": {"a"}}},
		{"big chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nc350\r\n" + big + "\r\n0\r\n\r\n", big, nil},
		{"until close", "HTTP/1.1 200 OK\r\n\r\n" + big, big, nil},
	} {
		for _, flush := range []bool{false, true} {
			out, err := relay(t, c.raw, flush)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
			if err != nil {
				t.Errorf("%s: client cannot read %q: %v", c.name, out, err)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != c.want {
				t.Errorf("%s: body %d bytes, %v", c.name, len(body), err)
			}
			if c.trailer != nil && !equalHeader(resp.Trailer, c.trailer) {
				t.Errorf("%s: trailer %v", c.name, resp.Trailer)
			}
		}
	}
	for name, raw := range map[string]string{
		"short length":    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"bad chunk size":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
		"no crlf":         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
		"cut chunk":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
		"cut trailer":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n",
		"huge chunk size": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
		// A chunk line ends in CRLF, as net/http requires (RFC 9112 errata 7633).
		"chunked lf":        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\r\n0\n\n",
		"space before size": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
	} {
		var re *RelayError
		if _, err := relay(t, raw, false); !errors.As(err, &re) || re.Client {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}

// TestFlushAndFill exercises the raw write-then-wait round trip, with a
// request small enough for one write and one too large for the socket
// buffer (the EAGAIN path).
func TestFlushAndFill(t *testing.T) {
	waiting := make(chan struct{}, 1)
	hook := func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	rawWaiting.Store(&hook)
	t.Cleanup(func() { rawWaiting.Store(nil) })
	for _, size := range []int{10, 8 << 20} {
		client, server := pair(t)
		c := NewConn(client, 4<<10)
		if c.raw == nil {
			if runtime.GOOS == "linux" {
				t.Fatal("no raw connection on Linux")
			}
			t.Skip("no raw connection on this platform")
		}
		// The small request is written at once and the reply is sent only once the
		// connection waits for it; the large one fills the socket buffer (EAGAIN) and is
		// written the ordinary way, answered once all of it has arrived.
		small := size < 4<<10
		replied := make(chan error, 1)
		go func() {
			n, err := io.CopyN(io.Discard, server, int64(size))
			if err != nil {
				replied <- err
				return
			}
			if small {
				select {
				case <-waiting:
				case <-time.After(10 * time.Second):
					replied <- errors.New("the connection never waited for the reply")
					return
				}
			}
			_, err = io.WriteString(server, strings.Repeat("r", int(n%100)+1))
			replied <- err
		}()
		out := c.Out()
		*out = append(*out, strings.Repeat("q", size)...)
		if err := c.FlushAndFill(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(c.Buffered()) == 0 || c.Pending() != 0 {
			t.Fatalf("size %d: buffered %d pending %d", size, len(c.Buffered()), c.Pending())
		}
		if err := <-replied; err != nil {
			t.Fatalf("size %d: peer: %v", size, err)
		}
	}
	// The peer closing shows as EOF; a peer gone away shows as an error.
	client, server := pair(t)
	c := NewConn(client, 4<<10)
	server.Close()
	// The peer's FIN arrives asynchronously; Alive must turn false once it has.
	for deadline := time.Now().Add(5 * time.Second); c.Alive(); {
		if time.Now().After(deadline) {
			t.Fatal("a connection closed by the peer looks alive")
		}
		runtime.Gosched()
	}
	out := c.Out()
	*out = append(*out, "x"...)
	if err := c.FlushAndFill(); err == nil {
		t.Error("no error from a closed peer")
	}
	client, _ = pair(t)
	if !NewConn(client, 4<<10).Alive() {
		t.Error("an open idle connection looks dead")
	}
}

// TestOnTimeout: a read deadline that passes calls OnTimeout, which may
// clear it to keep waiting.
func TestOnTimeout(t *testing.T) {
	client, server := pair(t)
	c := NewConn(client, 4<<10)
	calls := 0
	timedOut := make(chan struct{})
	c.OnTimeout = func() bool {
		calls++
		if calls == 1 {
			close(timedOut)
		}
		client.SetReadDeadline(time.Time{})
		return true
	}
	client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	wrote := make(chan error, 1)
	go func() {
		// The reply comes only after the deadline passed and OnTimeout ran.
		<-timedOut
		_, err := io.WriteString(server, "late")
		wrote <- err
	}()
	out := c.Out()
	*out = append(*out, "req"...)
	if err := c.FlushAndFill(); err != nil || string(c.Buffered()) != "late" || calls != 1 {
		t.Fatalf("err %v, buffered %q, calls %d", err, c.Buffered(), calls)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("peer: %v", err)
	}
}

func TestEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream":                true,
		"Text/Event-Stream; charset=utf-8": true,
		"  text/event-stream":              true,
		"text/plain":                       false,
		"application/x-event-stream":       false,
		"":                                 false,
	} {
		if got := EventStream(http.Header{"Content-Type": {ct}}); got != want {
			t.Errorf("%q: %v", ct, got)
		}
	}
	if EventStream(http.Header{}) {
		t.Error("no Content-Type")
	}
}

func TestBodyReader(t *testing.T) {
	read := func(raw string) (string, http.Header, error) {
		be, px := pair(t)
		go func() {
			if _, err := io.WriteString(be, raw); err != nil {
				t.Error(err)
			}
			be.Close()
		}()
		c := NewConn(px, 4<<10)
		var resp Response
		if err := c.ReadResponseHead("GET", &resp); err != nil {
			return "", nil, err
		}
		c.Discard(resp.Len)
		r := NewBodyReader(c, &resp)
		r.Trailer = http.Header{"X-Sum": nil}
		b, err := io.ReadAll(r)
		if err == nil && !r.Done() {
			t.Errorf("%q: read to EOF but not done", raw)
		}
		return string(b), r.Trailer, err
	}
	big := strings.Repeat("abcdefgh", 3000)
	for raw, want := range map[string]string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef":                                    "abc",
		"HTTP/1.1 200 OK\r\nContent-Length: 24000\r\n\r\n" + big:                                big,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x\r\nc\r\n0\r\n\r\n": "abc",
		"HTTP/1.1 200 OK\r\n\r\n" + big:                                                         big,
		"HTTP/1.1 204 No Content\r\n\r\n":                                                       "",
	} {
		got, _, err := read(raw)
		if err != nil || got != want {
			t.Errorf("%.40q: %d bytes, %v", raw, len(got), err)
		}
	}
	_, tr, err := read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Sum: 1\r\nX-Late: 2\r\n\r\n")
	if err != nil || tr.Get("X-Sum") != "1" || tr.Get("X-Late") != "2" {
		t.Errorf("trailers: %v %v", tr, err)
	}
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n",
	} {
		if _, _, err := read(raw); err == nil {
			t.Errorf("%q: no error", raw)
		}
	}
}
