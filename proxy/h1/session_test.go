package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

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
	if _, err := io.WriteString(peer, "one"); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := c.Serve(func() Step {
		got = append(got, string(c.Buffered()))
		c.Discard(len(c.Buffered()))
		if len(got) == 1 {
			// Work while the peer sends more (a pipelined request).
			if _, err := io.WriteString(peer, "two"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
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
	go func() {
		for _, s := range []string{"a", "b", "c"} {
			time.Sleep(30 * time.Millisecond)
			if _, err := io.WriteString(peer, s); err != nil {
				t.Error(err)
				return
			}
		}
		time.Sleep(30 * time.Millisecond)
		peer.Close()
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
				time.Sleep(50 * time.Millisecond)
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
