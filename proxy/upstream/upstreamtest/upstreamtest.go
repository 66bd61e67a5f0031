// Package upstreamtest has backends that misbehave the way real ones do,
// for tests of the proxy's upstream handling over real sockets.
package upstreamtest

import (
	"bufio"
	"net"
	"net/textproto"
	"sync/atomic"
	"testing"
)

// Resetting starts a backend on loopback that accepts connections, reads a
// request head on each and resets it (SO_LINGER 0 close), as a backend pod
// exiting right after SIGTERM does. It returns its address and the count
// of request heads it read; it stops when the test ends.
func Resetting(t testing.TB) (addr string, heads *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	heads = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tp := textproto.NewReader(bufio.NewReader(c))
				if _, err := tp.ReadLine(); err != nil {
					return
				}
				if _, err := tp.ReadMIMEHeader(); err != nil {
					return
				}
				heads.Add(1)
				if err := c.(*net.TCPConn).SetLinger(0); err != nil {
					t.Errorf("SetLinger: %v", err)
				}
			}()
		}
	}()
	return ln.Addr().String(), heads
}
