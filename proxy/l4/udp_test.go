package l4

import (
	"context"
	"net"
	"testing"
	"time"
)

// udpEcho answers every datagram with name + ":" + payload.
func udpEcho(t *testing.T, name string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(append([]byte(name+":"), buf[:n]...), addr); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func startUDP(t *testing.T, cfg UDPConfig) (*UDPServer, string) {
	t.Helper()
	s, err := NewUDPServer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(pc) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-errc; err != ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return s, pc.LocalAddr().String()
}

// exchange sends msg and waits for one reply. Loopback UDP does not drop
// under this load, but the read deadline keeps a bug from hanging the test.
func exchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestUDPTwoClients(t *testing.T) {
	backend := udpEcho(t, "u1")
	s, addr := startUDP(t, UDPConfig{Name: "udp", Backends: one(backend)})
	c1, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for i := range 3 {
		if got := exchange(t, c1, "one"); got != "u1:one" {
			t.Fatalf("client 1 round %d: %q", i, got)
		}
		if got := exchange(t, c2, "two"); got != "u1:two" {
			t.Fatalf("client 2 round %d: %q", i, got)
		}
	}
	st := s.Stats()
	if st.Sessions != 2 || st.SessionsCreated != 2 {
		t.Fatalf("stats %+v, want 2 sessions", st)
	}
	// Counters move after each send returns, which can be after the reply
	// arrived; poll rather than race them.
	waitFor(t, "6 datagrams counted each way", func() bool {
		st := s.Stats()
		return st.DatagramsToBackend == 6 && st.DatagramsToClient == 6
	})
}

func TestUDPSessionLimitAndExpiry(t *testing.T) {
	backend := udpEcho(t, "u1")
	s, addr := startUDP(t, UDPConfig{Backends: one(backend), MaxSessions: 1, IdleTimeout: 50 * time.Millisecond})
	c1, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := exchange(t, c1, "a"); got != "u1:a" {
		t.Fatalf("got %q", got)
	}
	// The second client is over the limit: its datagram is dropped.
	if _, err := c2.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second client rejected", func() bool { return s.Stats().SessionsRejected == 1 })
	// Once the first session idles out, the second client gets one.
	waitFor(t, "first session expired", func() bool { return s.Stats().Sessions == 0 })
	if got := exchange(t, c2, "b"); got != "u1:b" {
		t.Fatalf("got %q", got)
	}
}

func TestUDPUpdateAndShutdown(t *testing.T) {
	b1, b2 := udpEcho(t, "u1"), udpEcho(t, "u2")
	s, addr := startUDP(t, UDPConfig{Backends: one(b1), IdleTimeout: time.Hour})
	c1, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if got := exchange(t, c1, "a"); got != "u1:a" {
		t.Fatalf("got %q", got)
	}
	if err := s.Update(UDPConfig{Backends: one(b2), IdleTimeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := exchange(t, c2, "b"); got != "u2:b" {
		t.Fatalf("new session: got %q, want the new backend", got)
	}
	if got := exchange(t, c1, "a"); got != "u1:a" {
		t.Fatalf("existing session: got %q, want it to keep its backend", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != context.Canceled {
		t.Fatalf("Shutdown = %v", err)
	}
	if st := s.Stats(); st.Sessions != 0 {
		t.Fatalf("%d sessions left after Shutdown", st.Sessions)
	}
}

// waitFor polls cond; the bound only stops a broken build from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("gave up waiting: %s", what)
}
