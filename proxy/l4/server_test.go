package l4

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTCPEchoWithHalfClose(t *testing.T) {
	backend := listenTCP(t)
	serveConns(t, backend, echoUntilEOF("b1"))
	_, addr := startServer(t, Config{Routes: []Route{{Name: "tcp", Backends: one(backend.Addr().String())}}})

	// Large enough to need several reads and writes on each side.
	payload := strings.Repeat("0123456789abcdef", 64<<10)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := roundTrip(t, c, payload); got != "b1:"+payload {
		t.Fatalf("got %d bytes, want %d", len(got), len("b1:")+len(payload))
	}
}

func TestTCPUpdateKeepsListenerAndConnections(t *testing.T) {
	b1, b2 := listenTCP(t), listenTCP(t)
	serveConns(t, b1, lineEcho("b1"))
	serveConns(t, b2, lineEcho("b2"))
	s, addr := startServer(t, Config{Routes: []Route{{Backends: one(b1.Addr().String())}}})

	old, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldR := bufio.NewReader(old)
	askLine(t, old, oldR, "hello", "b1:hello")

	if err := s.Update(Config{Routes: []Route{{Backends: one(b2.Addr().String())}}}); err != nil {
		t.Fatal(err)
	}
	// New connections on the same listener reach the new backend...
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	askLine(t, nc, bufio.NewReader(nc), "hi", "b2:hi")
	// ...while the established one stays where it was.
	askLine(t, old, oldR, "again", "b1:again")

	// An invalid config changes nothing.
	if err := s.Update(Config{Passthrough: true, TLS: &tls.Config{}}); err == nil {
		t.Fatal("Update accepted passthrough and terminate together")
	}
	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	askLine(t, nc2, bufio.NewReader(nc2), "still", "b2:still")
}

func askLine(t *testing.T, c net.Conn, r *bufio.Reader, msg, want string) {
	t.Helper()
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if got != want+"\n" {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestTCPNoBackendCloses(t *testing.T) {
	s, addr := startServer(t, Config{Routes: []Route{{Backends: []WeightedTarget{{Addr: "127.0.0.1:1", Weight: 0}}}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes, want the connection closed", n)
	}
	if st := s.Stats(); st.NoRoute != 1 {
		t.Fatalf("NoRoute = %d, want 1", st.NoRoute)
	}
}

func TestTCPDialErrorCloses(t *testing.T) {
	// A listener we close at once gives a loopback port that refuses.
	dead := listenTCP(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	s, addr := startServer(t, Config{Routes: []Route{{Backends: one(deadAddr)}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("want the connection closed")
	}
	if st := s.Stats(); st.DialErrors != 1 {
		t.Fatalf("DialErrors = %d, want 1", st.DialErrors)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	backend := listenTCP(t)
	serveConns(t, backend, lineEcho("b1"))
	_, addr := startServer(t, Config{
		Routes:      []Route{{Backends: one(backend.Addr().String())}},
		IdleTimeout: 50 * time.Millisecond,
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askLine(t, c, bufio.NewReader(c), "x", "b1:x")
	// Silence: the proxy must close; Read returns when it does.
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("want a clean close after idle, got %v", err)
	}
}

func TestTCPShutdownDrains(t *testing.T) {
	backend := listenTCP(t)
	serveConns(t, backend, lineEcho("b1"))
	s, err := NewServer(Config{Routes: []Route{{Backends: one(backend.Addr().String())}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := listenTCP(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	askLine(t, c, r, "before", "b1:before")

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v, want ErrServerClosed", err)
	}
	// The listener is gone but the established connection still works.
	if c2, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c2.Close()
		t.Fatal("listener still accepting after Shutdown")
	}
	askLine(t, c, r, "during", "b1:during")
	c.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v, want nil once the last connection ended", err)
	}
}

func TestTCPShutdownDeadlineAborts(t *testing.T) {
	backend := listenTCP(t)
	serveConns(t, backend, lineEcho("b1"))
	s, err := NewServer(Config{Routes: []Route{{Backends: one(backend.Addr().String())}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := listenTCP(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askLine(t, c, bufio.NewReader(c), "x", "b1:x")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v, want ErrServerClosed", err)
	}
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read after abort: %v", err)
	}
	if st := s.Stats(); st.Active != 0 {
		t.Fatalf("Active = %d after Shutdown", st.Active)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestPickerWeights(t *testing.T) {
	p, err := newPicker([]WeightedTarget{{Addr: "a:1", Weight: 1}, {Addr: "off:1", Weight: 0}, {Addr: "b:1", Weight: 3}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 4000 {
		a, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		seen[a]++
	}
	if seen["off:1"] != 0 {
		t.Fatalf("zero-weight target picked %d times", seen["off:1"])
	}
	// Loose bounds: a 1:3 split of 4000 draws lands near 1000:3000; these
	// fail with negligible probability unless weights are ignored.
	if seen["a:1"] < 600 || seen["a:1"] > 1400 {
		t.Fatalf("weights not respected: %v", seen)
	}
	if _, err := newPicker([]WeightedTarget{{Addr: "no-port", Weight: 1}}); err == nil {
		t.Fatal("address without port accepted")
	}
}
