// Command backend is the benchmark's upstream: the smallest fast HTTP server
// we can write, so that the benchmark measures the proxies in front of it.
// One port speaks HTTP/1.1 and h2c with prior knowledge.
//
//	GET /           0-byte body
//	GET /?size=N    N-byte body (bounded by 16 MiB)
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

const maxSize = 16 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "address to listen on")
	flag.Parse()

	payload := make([]byte, maxSize)
	for i := range payload {
		payload[i] = 'x'
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		if s := r.URL.Query().Get("size"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > maxSize {
				http.Error(w, "size must be 0..16777216", http.StatusBadRequest)
				return
			}
			n = v
		}
		w.Header()["Content-Length"] = []string{strconv.Itoa(n)}
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.WriteHeader(http.StatusOK)
		w.Write(payload[:n])
	})

	var protos http.Protocols
	protos.SetHTTP1(true)
	// Unencrypted HTTP/2 with prior knowledge, so h2load can hit the
	// backend directly for the "direct" h2 column.
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protos,
		ReadHeaderTimeout: 10 * time.Second,
		// Enough for h2load's 256 clients; the default of 250 streams is
		// per connection and not the limit here.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000},
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "backend listening on %s\n", ln.Addr())
	log.Fatal(srv.Serve(ln))
}
