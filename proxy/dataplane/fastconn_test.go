package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// rawConn is a test client on one connection.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, port int) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(raw string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, raw); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

func get1(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"
}

// TestFastPathStaleBackendConnection: a backend that closes idle
// connections without saying so. A replayable request is sent again on a
// new connection; a POST is sent on a checked one.
func TestFastPathStaleBackendConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	closed := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer func() {
					c.Close()
					closed <- struct{}{}
				}()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
				// One response, then close without "Connection: close".
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
					return
				}
			}()
		}
	}()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", ln.Addr().String())))
	rc := dialRaw(t, port)
	for i, raw := range []string{
		get1("/1"),
		get1("/2"),
		"POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
		"POST /4 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		get1("/5"),
	} {
		if i > 0 {
			// The backend has closed the connection of the previous request (on loopback its
			// FIN is queued to the proxy's socket by the time close returns), so this request
			// meets a stale pooled connection.
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatalf("request %d: the backend did not close the previous connection", i)
			}
		}
		rc.send(raw)
		resp, body := rc.read("")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("backend connections: %d, want 5 (one per request)", n)
	}
}

// TestFastPathClientGoneCancelsBackend: a client that disconnects while
// the backend is slow makes the proxy drop the backend request, as
// net/http's background read does, and is counted as a client cancel.
func TestFastPathClientGoneCancelsBackend(t *testing.T) {
	canceled := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	port := freePort(t)
	reg := prometheus.NewRegistry()
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		// Connections a test left open outlive the drain by design: Shutdown then closes
		// them and reports the deadline. Any other error is a failure.
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("slow")}, be("slow", slow.Listener.Addr().String())))
	watched := watchClients(t)
	rc := dialRaw(t, port)
	rc.send(get1("/"))
	<-started
	waitWatched(t, watched)
	rc.c.Close()
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend request was not canceled when the client went away")
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(rt.metrics.UpstreamErrors.WithLabelValues("slow", "client_cancel")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("client cancel not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFastPathSlowBackendAndPipelining: a request pipelined behind a slow
// one ends the client watch (which leaves it unread) and is served after
// it, in order.
func TestFastPathSlowBackendAndPipelining(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.URL.Path)
	}))
	defer slow.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("s")}, be("s", slow.Listener.Addr().String())))
	watched := watchClients(t)
	rc := dialRaw(t, port)
	rc.send(get1("/slow"))
	waitWatched(t, watched)
	rc.send(get1("/next"))
	close(release)
	for _, want := range []string{"/slow", "/next"} {
		if resp, body := rc.read(""); resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
	// And the connection still works.
	rc.send(get1("/again"))
	if _, body := rc.read(""); body != "/again" {
		t.Fatalf("after pipelining: %q", body)
	}
}

// TestFastPathHandsOverMidConnection: requests the fast path does not
// serve (a large head, an upgrade) are served by net/http on the same
// connection, after the fast ones.
func TestFastPathHandsOverMidConnection(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "%s %d", r.URL.Path, len(r.Header.Get("X-Big")))
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		// A failed write or copy ends the echo; the client's read then fails the test.
		if _, err := fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			return
		}
		if err := brw.Flush(); err != nil {
			return
		}
		if _, err := io.Copy(conn, brw); err != nil {
			return
		}
	}))
	defer ws.Close()
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("ws")}, be("ws", ws.Listener.Addr().String())))

	rc := dialRaw(t, port)
	rc.send(get1("/fast"))
	if _, body := rc.read(""); body != "/fast 0" {
		t.Fatalf("fast request: %q", body)
	}
	big := strings.Repeat("b", 20<<10) // over the fast path's 8 KiB, under 64 KiB
	rc.send("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n")
	if resp, body := rc.read(""); resp.StatusCode != 200 || body != fmt.Sprintf("/big %d", len(big)) {
		t.Fatalf("large head: %d %q", resp.StatusCode, body)
	}
	rc.send(get1("/after"))
	if _, body := rc.read(""); body != "/after 0" {
		t.Fatalf("after hand-over: %q", body)
	}

	rc = dialRaw(t, port)
	rc.send(get1("/first"))
	rc.read("")
	rc.send("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade after a fast request: %v %v", resp, err)
	}
	rc.send("ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rc.br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

// TestFastPathTimeouts: a head that never ends is cut at ReadHeaderTimeout
// and an idle connection at IdleTimeout, as net/http does.
func TestFastPathTimeouts(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		// Connections a test left open outlive the drain by design: Shutdown then closes
		// them and reports the deadline. Any other error is a failure.
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr)))
	closedWithin := func(rc *rawConn, d time.Duration) bool {
		rc.c.SetReadDeadline(time.Now().Add(d))
		_, err := rc.br.ReadByte()
		return err == io.EOF
	}
	rc := dialRaw(t, port)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n") // never finished
	if !closedWithin(rc, 3*time.Second) {
		t.Error("an unfinished head was not cut")
	}
	rc = dialRaw(t, port)
	rc.send(get1("/"))
	if resp, _ := rc.read(""); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !closedWithin(rc, 3*time.Second) {
		t.Error("an idle connection was not closed")
	}
	// A second request's head left unfinished on a kept-alive connection is cut too, and a
	// head that trickles in within the timeout is served.
	rc = dialRaw(t, port)
	rc.send(get1("/"))
	if resp, _ := rc.read(""); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rc.send("GET / HTTP/1.1\r\n")
	time.Sleep(100 * time.Millisecond)
	rc.send("Host: x\r\n\r\n")
	if resp, _ := rc.read(""); resp.StatusCode != 200 {
		t.Fatalf("trickled head: status %d", resp.StatusCode)
	}
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(rc, 3*time.Second) {
		t.Error("an unfinished second head was not cut")
	}
}

// TestFastPathMetrics: fast-path requests are counted like the others.
func TestFastPathMetrics(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	reg := prometheus.NewRegistry()
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		// Connections a test left open outlive the drain by design: Shutdown then closes
		// them and reports the deadline. Any other error is a failure.
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{Matches: pathPrefix("/a"), BackendRefs: to("a")}, be("a", a.addr)))
	rc := dialRaw(t, port)
	for _, p := range []string{"/a", "/a", "/b"} {
		rc.send(get1(p))
		rc.read("")
	}
	if n := testutil.ToFloat64(rt.metrics.Requests.WithLabelValues("http", "web", "default/r", "200")); n != 2 {
		t.Errorf("200s counted: %v", n)
	}
	if n := testutil.ToFloat64(rt.metrics.Requests.WithLabelValues("http", "web", "", "404")); n != 1 {
		t.Errorf("404s counted: %v", n)
	}
}

// TestFastPathCloseKeepsResponse: a connection closed after its response
// (Connection: close) with more client bytes unread still delivers the
// response, then EOF (the FIN comes before the close).
func TestFastPathCloseKeepsResponse(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr)))
	rc := dialRaw(t, port)
	rc.send("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + strings.Repeat("junk", 10000))
	resp, body := rc.read("")
	if resp.StatusCode != 200 || !resp.Close || !strings.Contains(body, `"path":"/last"`) {
		t.Fatalf("got %d close=%v %q", resp.StatusCode, resp.Close, body)
	}
	if _, err := rc.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the last response: %v, want EOF", err)
	}
}

// TestFastPathPipelinedDuringExchange: a request that arrives while the
// previous one is with a (not slow) backend is served at once: waiting
// for it after the response must not lose its readiness, which would
// leave it until the idle timeout. Requests with a body in between leave
// the session and come back.
func TestFastPathPipelinedDuringExchange(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	be1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			arrived <- struct{}{}
			<-release
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	}))
	defer be1.Close()
	port := freePort(t)
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), IdleTimeout: time.Minute, ReadHeaderTimeout: time.Minute})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		// Connections a test left open outlive the drain by design: Shutdown then closes
		// them and reports the deadline. Any other error is a failure.
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", be1.Listener.Addr().String())))
	rc := dialRaw(t, port)
	rc.c.SetDeadline(time.Now().Add(5 * time.Second)) // far below the idle timeout
	for i := 0; i < 3; i++ {
		rc.send(get1("/wait"))
		<-arrived // the backend has it: the next two arrive during the exchange
		rc.send(get1("/next"))
		rc.send("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
		// Well within slowBackend, so the client is not watched: the exchange stays fast.
		release <- struct{}{}
		for _, want := range []string{"GET /wait ", "GET /next ", "POST /body hi"} {
			if resp, body := rc.read(""); resp.StatusCode != 200 || body != want {
				t.Fatalf("round %d: got %d %q, want %q", i, resp.StatusCode, body, want)
			}
		}
	}
}

// TestFastPathShutdownIdleAndActive: shutdown closes a keep-alive connection waiting for its
// next request at once, and lets a request in flight finish with "Connection: close".
func TestFastPathShutdownIdleAndActive(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.URL.Path)
	}))
	defer b.Close()
	port := freePort(t)
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", b.Listener.Addr().String())))

	idle := dialRaw(t, port)
	idle.send(get1("/first"))
	if _, body := idle.read(""); body != "/first" {
		t.Fatalf("idle connection's first answer: %q", body)
	}
	active := dialRaw(t, port)
	active.send(get1("/slow"))
	<-started

	done := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		done <- rt.Shutdown(ctx)
	}()
	// The idle connection is closed without an answer.
	idle.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := idle.br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection during shutdown: read %d bytes, %v; want EOF", n, err)
	}
	// The active one gets its answer, saying the connection closes.
	close(release)
	resp, body := active.read("")
	if resp.StatusCode != 200 || body != "/slow" || !resp.Close {
		t.Fatalf("in-flight request during shutdown: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// watchClients returns a channel that receives each time the fast path starts watching a
// client because its backend is slow.
func watchClients(t *testing.T) <-chan struct{} {
	t.Helper()
	ch := make(chan struct{}, 16)
	hook := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if !clientWatched.CompareAndSwap(nil, &hook) {
		t.Fatal("another test is watching clients")
	}
	t.Cleanup(func() { clientWatched.Store(nil) })
	return ch
}

// waitWatched waits until the fast path watches a client.
func waitWatched(t *testing.T, watched <-chan struct{}) {
	t.Helper()
	select {
	case <-watched:
	case <-time.After(10 * slowBackend):
		t.Fatal("the client was never watched while its backend was slow")
	}
}
