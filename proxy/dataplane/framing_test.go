package dataplane

import (
	"io"
	"net"
	"testing"
)

// passThrough writes stream to a framingConn in pieces of size step and
// returns what net/http would read from it.
func passThrough(t *testing.T, stream string, step int) string {
	t.Helper()
	client, server := net.Pipe()
	fc := newFramingConn(server, 1<<20)
	go func() {
		defer client.Close()
		for i := 0; i < len(stream); i += step {
			if _, err := io.WriteString(client, stream[i:min(i+step, len(stream))]); err != nil {
				return // the reader stopped; the test reports what it read
			}
		}
	}()
	got, err := io.ReadAll(fc)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return string(got)
}

// TestFramingConnFollowsMessages: split anywhere, valid messages pass
// unchanged (so the check stays in step with net/http), and a faulty head
// is replaced wherever it starts.
func TestFramingConnFollowsMessages(t *testing.T) {
	valid := "GET / HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3;e=1\r\nabc\r\n10\r\n" + "Content-Length: " + "\r\n0\r\nX-T: 1\r\n\r\n" +
		"POST /c HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi" +
		"GET /d HTTP/1.1\nHost: x\nX-Long: a\n b\n\n" +
		"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	smuggle := "POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, step := range []int{1, 2, 3, 7, 64, 4096} {
		if got := passThrough(t, valid, step); got != valid {
			t.Errorf("step %d: valid stream changed:\n%q\nwant\n%q", step, got, valid)
		}
		want := valid + string(badFramingHead)
		if got := passThrough(t, valid+smuggle, step); got != want {
			t.Errorf("step %d: smuggling stream:\n%q\nwant\n%q", step, got, want)
		}
		// After an upgrade request the bytes are passed on as they are.
		up := "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n" + smuggle
		if got := passThrough(t, up, step); got != up {
			t.Errorf("step %d: upgrade stream changed: %q", step, got)
		}
		// A malformed chunk line is passed on (net/http fails the body
		// on it) and nothing after it.
		broken := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"
		if got, want := passThrough(t, broken+"GET / HTTP/1.1\r\nHost: x\r\n\r\n", step), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\n"; got != want {
			t.Errorf("step %d: broken chunk: %q, want %q", step, got, want)
		}
	}
}
