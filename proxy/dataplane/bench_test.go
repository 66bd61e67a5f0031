package dataplane

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// BenchmarkProxyHTTP1 measures one keep-alive HTTP/1.1 request through the
// proxy to an empty backend (client and backend included, so compare
// allocs/op and ns/op between commits, not with other proxies; hack/bench
// does that).
func BenchmarkProxyHTTP1(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer backend.Close()
	port := freePort(b)
	rt := newRuntime(b)
	mustApply(b, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", backend.Listener.Addr().String())))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkFastPathHTTP1 measures the proxy alone on the fast path: the
// client and the backend are raw loops that allocate nothing per request,
// so allocs/op is the proxy's.
func BenchmarkFastPathHTTP1(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	reply := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: text/plain\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rawLoop(c, reply)
		}
	}()
	port := freePort(b)
	rt := newRuntime(b)
	mustApply(b, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", ln.Addr().String())))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		req := []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
		buf := make([]byte, 4096)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if !readHead(c, buf) {
				b.Error("no response")
				return
			}
		}
	})
}

// rawLoop answers every request head on c with reply.
func rawLoop(c net.Conn, reply []byte) {
	defer c.Close()
	buf := make([]byte, 4096)
	for readHead(c, buf) {
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// readHead reads until a blank line; heads here arrive in one read.
func readHead(c net.Conn, buf []byte) bool {
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return false
		}
		n += m
		if bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
			return true
		}
	}
}
