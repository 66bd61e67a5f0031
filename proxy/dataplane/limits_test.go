package dataplane

import (
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

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func limitsRuntime(t *testing.T, o Options) *Runtime {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := New(o)
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	return rt
}

// TestRequestBodyTimeout: a client that stops sending its body gets 408
// and its connection closed, and so does the backend connection, on the
// fast path (small bodies) and on net/http (large ones, or with the fast
// path off).
func TestRequestBodyTimeout(t *testing.T) {
	bodyErr := make(chan error, 4)
	var complete atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		if err == nil {
			complete.Add(1)
		}
		bodyErr <- err
		if err != nil {
			panic(http.ErrAbortHandler) // no answer to a cut body
		}
	}))
	defer b.Close()
	for _, tc := range []struct {
		name    string
		disable bool
		length  int
		sent    int
		streams bool // the body is streamed to the backend as it comes
	}{{"fast path", false, 30000, 20000, true}, {"net/http large body", false, 1 << 20, 20000, true}, {"net/http", true, 1000, 100, false}} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			rt := limitsRuntime(t, Options{RequestBodyTimeout: 300 * time.Millisecond, DisableFastPath: tc.disable})
			mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", b.Listener.Addr().String())))
			rc := dialRaw(t, port)
			start := time.Now()
			rc.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", tc.length, strings.Repeat("x", tc.sent)))
			resp, body := rc.read("POST")
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("stalled body: status %d %v %q, want 408", resp.StatusCode, resp.Header, body)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("408 after %s", took)
			}
			if !closedWithin(rc, 3*time.Second) {
				t.Error("the client connection stayed open after the 408")
			}
			if !tc.streams {
				// The backend client sends a small body once it has it
				// all: the backend never saw this request.
				return
			}
			select {
			case err := <-bodyErr:
				if err == nil {
					t.Error("the backend read a complete body")
				}
			case <-time.After(5 * time.Second):
				t.Error("the backend connection stayed open")
			}
		})
	}
	if n := complete.Load(); n != 0 {
		t.Errorf("the backend read %d complete bodies", n)
	}
}

// TestResponseHeaderTimeout: a backend that sends no response head within
// ResponseHeaderTimeout is answered 504 on both paths; a head that came
// in time lets the body take longer, and a route's own timeouts replace
// the default.
func TestResponseHeaderTimeout(t *testing.T) {
	const d = 300 * time.Millisecond
	hung := make(chan struct{})
	defer close(hung)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, "/timed") {
		case "/hang":
			select {
			case <-hung:
			case <-r.Context().Done():
			}
		case "/slow-head":
			time.Sleep(2 * d) // a backend slower than the default, within the route's timeout
			io.WriteString(w, "late")
		case "/slow-body":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			time.Sleep(2 * d) // the body may take longer than the head's timeout
			io.WriteString(w, "body")
		}
	}))
	defer b.Close()
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%v", disable), func(t *testing.T) {
			port := freePort(t)
			rt := limitsRuntime(t, Options{ResponseHeaderTimeout: d, DisableFastPath: disable})
			c := oneRoute(port, config.HTTPRouteRule{Matches: pathPrefix("/timed"), BackendRefs: to("b"),
				Timeouts: &config.Timeouts{Request: config.D(10 * d)}},
				be("b", b.Listener.Addr().String()))
			c.Binds[0].Listeners[0].HTTPRoutes = append(c.Binds[0].Listeners[0].HTTPRoutes, hroute("plain", nil, config.HTTPRouteRule{BackendRefs: to("b")}))
			mustApply(t, rt, c)
			client := &http.Client{Timeout: 10 * time.Second}
			start := time.Now()
			if r := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/hang", port), ""); r.code != http.StatusGatewayTimeout {
				t.Errorf("hung backend: status %d, want 504", r.code)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("504 after %s", took)
			}
			if r := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/slow-body", port), ""); r.code != 200 || r.body != "body" {
				t.Errorf("slow body: %d %q", r.code, r.body)
			}
			if r := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/timed/slow-head", port), ""); r.code != 200 || r.body != "late" {
				t.Errorf("slow head on a route with timeouts.request: %d %q", r.code, r.body)
			}
		})
	}
}

// TestMaxConnections: beyond the cap, new connections are closed at once
// and counted; the open ones keep being served, and a closed one frees
// its place.
func TestMaxConnections(t *testing.T) {
	a := startBackend(t, "a", false)
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%v", disable), func(t *testing.T) {
			port := freePort(t)
			rt := limitsRuntime(t, Options{MaxConnections: 2, DisableFastPath: disable})
			mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr)))
			c1, c2 := dialRaw(t, port), dialRaw(t, port)
			for _, rc := range []*rawConn{c1, c2} {
				rc.send(get1("/"))
				if resp, _ := rc.read(""); resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			// The connection over the cap is reset, maybe before the
			// dial returns.
			if c3, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c3.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c3, get1("/")) //nolint:errcheck // the connection may be reset already: the read tells
				if n, err := c3.Read(make([]byte, 1)); err == nil || isTimeout(err) {
					t.Fatalf("a connection over the cap: read %d bytes, %v; want it closed", n, err)
				}
				c3.Close()
			}
			if got := testutil.ToFloat64(rt.conns.rejected); got != 1 {
				t.Errorf("rejected connections: %v, want 1", got)
			}
			for _, rc := range []*rawConn{c1, c2} {
				rc.send(get1("/"))
				if resp, _ := rc.read(""); resp.StatusCode != 200 {
					t.Fatalf("an open connection after the rejection: status %d", resp.StatusCode)
				}
			}
			c1.c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for rt.conns.open.Load() > 1 {
				if time.Now().After(deadline) {
					t.Fatal("a closed connection kept its place")
				}
				time.Sleep(5 * time.Millisecond) // polling the count of open connections
			}
			c4 := dialRaw(t, port)
			c4.send(get1("/"))
			if resp, _ := c4.read(""); resp.StatusCode != 200 {
				t.Fatalf("a new connection under the cap: status %d", resp.StatusCode)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestShutdownHungBackend: with a request waiting on a backend that never
// answers, Shutdown returns within its context (plus a little) and the
// client connection is closed, on both paths.
func TestShutdownHungBackend(t *testing.T) {
	hung := make(chan struct{})
	defer close(hung)
	started := make(chan struct{}, 2)
	b := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	defer b.Close()
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%v", disable), func(t *testing.T) {
			var watched <-chan struct{}
			if !disable {
				watched = watchClients(t)
			}
			port := freePort(t)
			rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableFastPath: disable})
			mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", b.Listener.Addr().String())))
			rc := dialRaw(t, port)
			rc.send(get1("/"))
			<-started
			if watched != nil {
				// The fast path watches the client on a duplicate of its
				// descriptor, which a plain close leaves open.
				waitWatched(t, watched)
			}
			ctx, cancel := contextWithTimeout(time.Second)
			defer cancel()
			start := time.Now()
			err := rt.Shutdown(ctx)
			if took := time.Since(start); took > 2500*time.Millisecond {
				t.Errorf("Shutdown took %s with a 1s context", took)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown: %v, want the context's deadline", err)
			}
			rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadAll(rc.br); err != nil {
				t.Errorf("the client connection was not closed: %v", err)
			}
		})
	}
}

// TestShutdownUpgradedConnection: a connection that switched protocols
// (which http.Server.Shutdown does not track) may relay until the drain
// ends; then it is closed, and Shutdown returns within its context.
func TestShutdownUpgradedConnection(t *testing.T) {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "test")
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c) //nolint:errcheck // holds the connection until the proxy closes it
	}))
	defer b.Close()
	port := freePort(t)
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mustApply(t, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", b.Listener.Addr().String())))
	rc := dialRaw(t, port)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	ctx, cancel := contextWithTimeout(time.Second)
	defer cancel()
	start := time.Now()
	err = rt.Shutdown(ctx)
	took := time.Since(start)
	if took > 2500*time.Millisecond {
		t.Errorf("Shutdown took %s with a 1s context", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || took < 900*time.Millisecond {
		t.Errorf("Shutdown: %v after %s; want the upgraded connection to have the whole drain", err, took)
	}
	rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(rc.br); err != nil {
		t.Errorf("the upgraded connection was not closed: %v", err)
	}
}
