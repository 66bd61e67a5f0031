// Command backend is the benchmark's upstream: the smallest fast HTTP server
// we can write, so that the benchmark measures the proxies in front of it.
// One port speaks HTTP/1.1 and h2c with prior knowledge.
//
//	GET /           0-byte body
//	GET /?size=N    N-byte body (bounded by 16 MiB)
//	POST /          the request body is read and dropped; 0-byte answer
//
// With -grpc-addr it also serves the gRPC service of package rawgrpc
// (h2c) there.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/agentgateway/agentgateway-go/hack/bench/rawgrpc"
	"google.golang.org/grpc"
)

const maxSize = 16 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "address to listen on")
	grpcAddr := flag.String("grpc-addr", "", "address of the gRPC (h2c) server; empty: none")
	flag.Parse()
	if *grpcAddr != "" {
		gln, err := net.Listen("tcp", *grpcAddr)
		if err != nil {
			log.Fatal(err)
		}
		gs := grpc.NewServer(grpc.ForceServerCodec(rawgrpc.Codec{}), grpc.MaxConcurrentStreams(1000))
		rawgrpc.Register(gs)
		go func() { log.Fatal(gs.Serve(gln)) }()
	}

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
		if r.Body != nil {
			io.Copy(io.Discard, r.Body) //nolint:errcheck // a short upload only shortens what is measured
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
