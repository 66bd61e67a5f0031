package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hookSignal sets the test hook h to signal the returned channel (one pending signal at
// most) and clears it when the test ends.
func hookSignal(t *testing.T, h *atomic.Pointer[func()]) <-chan struct{} {
	t.Helper()
	ch := make(chan struct{}, 1)
	f := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	h.Store(&f)
	t.Cleanup(func() { h.Store(nil) })
	return ch
}

// await waits for a signal from ch, failing the test after 3 seconds.
func await(t *testing.T, ch <-chan struct{}, what string) bool {
	t.Helper()
	select {
	case <-ch:
		return true
	case <-time.After(3 * time.Second):
		t.Errorf("timed out waiting for %s", what)
		return false
	}
}

func sessionPair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	a, b := pair(t)
	c := NewConn(a, 4<<10)
	if !c.CanServe() {
		t.Skip("no sessions on this platform")
	}
	// A readiness that Serve lost would show as this deadline passing.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	return c, b
}

// TestServeKeepsReadinessDuringStep: bytes that arrive while a step runs,
// after the read that emptied the socket, are delivered to the next step
// without a read attempt having armed anything: Serve keeps the readiness.
func TestServeKeepsReadinessDuringStep(t *testing.T) {
	c, peer := sessionPair(t)
	waiting, watched := hookSignal(t, &rawWaiting), hookSignal(t, &watchEnded)
	if _, err := io.WriteString(peer, "one"); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := c.Serve(func() Step {
		got = append(got, string(c.Buffered()))
		c.Discard(len(c.Buffered()))
		if len(got) == 1 {
			// Work while the peer sends more (a pipelined request), and return only
			// once the runtime's poller has taken the readiness the bytes caused: a
			// watch, waiting in the poller on the emptied socket, ends when it is woken
			// for them, and the same poll took this connection's readiness.
			select {
			case <-waiting: // Serve's own wait before "one" arrived, if it had to
			default:
			}
			stop := c.Watch(func() { t.Error("the peer looks gone") })
			await(t, waiting, "the watch to wait")
			if _, err := io.WriteString(peer, "two"); err != nil {
				t.Fatal(err)
			}
			await(t, watched, "the watch to see the pipelined bytes")
			stop()
			return StepRead
		}
		return StepDone
	})
	if err != nil || strings.Join(got, ",") != "one,two" {
		t.Fatalf("err %v, steps saw %q", err, got)
	}
}

// TestServeWaitsThenReads: a step that asks for more waits for the peer;
// the peer closing ends Serve with io.EOF.
func TestServeWaitsThenReads(t *testing.T) {
	c, peer := sessionPair(t)
	waiting := hookSignal(t, &rawWaiting)
	// The peer sends each byte, and then closes, only once Serve waits for the socket.
	peerDone := make(chan struct{})
	defer func() { <-peerDone }()
	go func() {
		defer close(peerDone)
		for _, s := range []string{"a", "b", "c"} {
			if !await(t, waiting, "Serve to wait before "+s) {
				return
			}
			if _, err := io.WriteString(peer, s); err != nil {
				t.Error(err)
				return
			}
		}
		if await(t, waiting, "Serve to wait before the close") {
			if err := peer.Close(); err != nil {
				t.Error(err)
			}
		}
	}()
	var got bytes.Buffer
	err := c.Serve(func() Step {
		got.Write(c.Buffered())
		c.Discard(len(c.Buffered()))
		c.Release() // idle: the buffer goes back to its pool
		return StepRead
	})
	if !errors.Is(err, io.EOF) || got.String() != "abc" {
		t.Fatalf("err %v, got %q", err, got.String())
	}
}

// TestServeReadsOnAfterFullBuffer: a read that fills the buffer may leave
// bytes in the socket that no readiness will announce; Serve reads again
// instead of waiting.
func TestServeReadsOnAfterFullBuffer(t *testing.T) {
	c, peer := sessionPair(t)
	want := strings.Repeat("0123456789", 1500) // several buffers
	if _, err := io.WriteString(peer, want); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	err := c.Serve(func() Step {
		got.Write(c.Buffered())
		c.Discard(len(c.Buffered()))
		if got.Len() == len(want) {
			return StepDone
		}
		return StepRead
	})
	if err != nil || got.String() != want {
		t.Fatalf("err %v, got %d of %d bytes", err, got.Len(), len(want))
	}
}

// TestServeStartsWithBuffered: bytes already buffered go to the first
// step before anything is read.
func TestServeStartsWithBuffered(t *testing.T) {
	c, peer := sessionPair(t)
	if _, err := io.WriteString(peer, "head"); err != nil {
		t.Fatal(err)
	}
	if err := c.Fill(); err != nil {
		t.Fatal(err)
	}
	steps := 0
	err := c.Serve(func() Step {
		steps++
		if string(c.Buffered()) != "head" {
			t.Errorf("step %d saw %q", steps, c.Buffered())
		}
		return StepDone
	})
	if err != nil || steps != 1 {
		t.Fatalf("err %v, %d steps", err, steps)
	}
}

// TestWatch: the peer closing calls gone; bytes from the peer end the
// watch, are not consumed and are read afterwards; stop returns promptly
// when nothing happened. Each case also runs inside a Serve step, where
// the connection's read lock is held.
func TestWatch(t *testing.T) {
	for _, inSession := range []bool{false, true} {
		run := func(c *Conn, f func()) {
			if !inSession {
				f()
				return
			}
			if err := c.Serve(func() Step { f(); return StepDone }); err != nil {
				t.Fatalf("Serve: %v", err)
			}
		}
		{ // closed
			c, peer := sessionPair(t)
			if _, err := io.WriteString(peer, "x"); err != nil {
				t.Fatal(err)
			}
			if err := c.Fill(); err != nil {
				t.Fatal(err)
			}
			gone := make(chan struct{})
			run(c, func() {
				c.Discard(1)
				stop := c.Watch(func() { close(gone) })
				peer.Close()
				select {
				case <-gone:
				case <-time.After(3 * time.Second):
					t.Errorf("session %v: the peer closed and gone did not run", inSession)
				}
				stop()
			})
		}
		{ // pipelined bytes
			c, peer := sessionPair(t)
			watched := hookSignal(t, &watchEnded)
			if _, err := io.WriteString(peer, "x"); err != nil {
				t.Fatal(err)
			}
			if err := c.Fill(); err != nil {
				t.Fatal(err)
			}
			run(c, func() {
				c.Discard(1)
				stop := c.Watch(func() { t.Errorf("session %v: gone ran for bytes", inSession) })
				if _, err := io.WriteString(peer, "next"); err != nil {
					t.Error(err)
					return
				}
				// Stop only after the watch has seen the bytes and ended on them.
				await(t, watched, "the watch to see the pipelined bytes")
				stop()
			})
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			for len(c.Buffered()) < 4 {
				if err := c.Fill(); err != nil {
					t.Fatalf("session %v: reading after the watch: %v", inSession, err)
				}
			}
			if string(c.Buffered()) != "next" {
				t.Fatalf("session %v: after the watch: %q", inSession, c.Buffered())
			}
		}
		{ // nothing
			c, peer := sessionPair(t)
			if _, err := io.WriteString(peer, "x"); err != nil {
				t.Fatal(err)
			}
			if err := c.Fill(); err != nil {
				t.Fatal(err)
			}
			run(c, func() {
				c.Discard(1)
				stop := c.Watch(func() { t.Errorf("session %v: gone ran", inSession) })
				start := time.Now()
				stop()
				if d := time.Since(start); d > time.Second {
					t.Errorf("session %v: stop took %v", inSession, d)
				}
			})
		}
	}
}
