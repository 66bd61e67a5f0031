package l4

import (
	"io"
	"net"
	"testing"
)

// BenchmarkTCPThroughput streams through the proxy to a backend that
// discards, reporting MB/s of the copy loop.
func BenchmarkTCPThroughput(b *testing.B) {
	backend := listenTCP(b)
	serveConns(b, backend, func(c net.Conn) {
		if _, err := io.Copy(io.Discard, c); err != nil {
			b.Error(err)
		}
	})
	_, addr := startServer(b, Config{Routes: []Route{{Backends: one(backend.Addr().String())}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPConnect measures accept, dial and teardown per connection.
func BenchmarkTCPConnect(b *testing.B) {
	backend := listenTCP(b)
	serveConns(b, backend, echoUntilEOF("b"))
	_, addr := startServer(b, Config{Routes: []Route{{Backends: one(backend.Addr().String())}}})
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
