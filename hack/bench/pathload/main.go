// Command pathload is the load generator of hack/bench-paths.sh for what wrk
// and h2load cannot do: HTTPS with a new connection per request (TLS session
// resumption on or off), gRPC unary and streaming calls, HTTP/3 (quic-go),
// and large request bodies. It also serves the h2 and h2c paths when asked,
// so that HTTP/3 and its HTTPS h2 reference see the same client.
//
// Closed loop (the default): -conns workers, each on its own connection (or
// its own gRPC stream), send back to back for -duration after a -warmup.
// Open loop (-rate N): N requests/s spread over the workers, each timed from
// its scheduled slot, so a stall is not hidden (coordinated omission).
//
// One line on stdout:
//
//	rps=<n> p50_ms=<ms> p99_ms=<ms> errors=<n> resumed=<fraction|NA>
//
// resumed is the share of TLS handshakes that resumed a session, for -mode
// h1 with -new-conn (the script checks it, so a proxy that never resumes
// cannot pass for one that does).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/hack/bench/rawgrpc"
	"github.com/quic-go/quic-go/http3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type options struct {
	mode     string
	url      string
	target   string
	conns    int
	rate     int
	duration time.Duration
	warmup   time.Duration
	body     int
	newConn  bool
	resume   bool
	header   string
	sni      string
	ca       *x509.CertPool
}

func main() {
	var o options
	var caFile string
	flag.StringVar(&o.mode, "mode", "h1", "h1 (HTTP/1.1, http or https URL), h2 (https: TLS h2; http: h2c), h3, grpc-unary, grpc-stream")
	flag.StringVar(&o.url, "url", "http://127.0.0.1:18080/", "URL for h1, h2, h3")
	flag.StringVar(&o.target, "target", "127.0.0.1:18080", "host:port of the gRPC server (h2c)")
	flag.IntVar(&o.conns, "conns", 16, "connections and workers")
	flag.IntVar(&o.rate, "rate", 0, "requests/s (open loop); 0 is closed loop")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured duration")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured lead-in")
	flag.IntVar(&o.body, "body", 0, "request body bytes (POST for h1/h2/h3; the message size for gRPC)")
	flag.BoolVar(&o.newConn, "new-conn", false, "h1: a new connection (and TLS handshake) for every request")
	flag.BoolVar(&o.resume, "resume", false, "with -new-conn: resume TLS sessions (a client session cache)")
	flag.StringVar(&o.header, "header", "", `one request header, "Name: value"`)
	flag.StringVar(&o.sni, "sni", "", "TLS server name to send (the URL may name an IP address, which sends none)")
	flag.StringVar(&caFile, "ca", "", "PEM CA bundle for https and h3")
	flag.Parse()
	if o.conns < 1 || o.conns > 10000 || o.rate < 0 || o.rate > 1_000_000 || o.duration <= 0 || o.duration > time.Hour || o.body < 0 || o.body > 64<<20 {
		fail(errors.New("conns 1..1e4, rate 0..1e6, duration up to 1h, body up to 64 MiB"))
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			fail(err)
		}
		o.ca = x509.NewCertPool()
		if !o.ca.AppendCertsFromPEM(pem) {
			fail(fmt.Errorf("no certificate in %s", caFile))
		}
	}
	newWorker, closeAll, err := workers(&o)
	if err != nil {
		fail(err)
	}
	res := run(&o, newWorker)
	closeAll()
	lat := res.latencies
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	resumed := "NA"
	if o.newConn && strings.HasPrefix(o.url, "https:") && res.handshakes > 0 {
		resumed = fmt.Sprintf("%.2f", float64(res.resumed)/float64(res.handshakes))
	}
	fmt.Printf("rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d resumed=%s\n",
		float64(len(lat))/res.elapsed.Seconds(), pct(0.5), pct(0.99), res.errors, resumed)
	if res.firstErr != nil {
		fmt.Fprintln(os.Stderr, "pathload: first error:", res.firstErr)
	}
	if len(lat) == 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pathload:", err)
	os.Exit(2)
}

// call is one request on a worker's connection; resumed reports a TLS
// handshake's outcome (-1 when there was none).
type call func() (resumed int, err error)

type result struct {
	latencies           []time.Duration
	errors              int
	firstErr            error
	elapsed             time.Duration
	handshakes, resumed int
}

// run drives the workers for warmup+duration and collects the measured calls.
func run(o *options, newWorker func(i int) (call, error)) result {
	calls := make([]call, o.conns)
	for i := range calls {
		c, err := newWorker(i)
		if err != nil {
			fail(err)
		}
		calls[i] = c
	}
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	var slots chan time.Time
	if o.rate > 0 {
		slots = make(chan time.Time, o.conns)
		go func() {
			interval := time.Second / time.Duration(o.rate)
			for at := start; at.Before(end); at = at.Add(interval) {
				slots <- at
			}
			close(slots)
		}()
	}
	var (
		mu  sync.Mutex
		res result
		hs  atomic.Int64
		rs  atomic.Int64
		wg  sync.WaitGroup
	)
	for _, c := range calls {
		wg.Go(func() {
			var local []time.Duration
			nerr := 0
			var firstErr error
			for {
				var begin time.Time
				if slots != nil {
					at, ok := <-slots
					if !ok {
						break
					}
					begin = at
					if d := time.Until(at); d > 0 {
						time.Sleep(d)
						begin = time.Now()
					}
				} else {
					begin = time.Now()
					if !begin.Before(end) {
						break
					}
				}
				r, err := c()
				done := time.Now()
				if begin.Before(measureFrom) {
					continue
				}
				if r >= 0 {
					hs.Add(1)
					rs.Add(int64(r))
				}
				if err != nil {
					nerr++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				local = append(local, done.Sub(begin))
			}
			mu.Lock()
			res.latencies = append(res.latencies, local...)
			res.errors += nerr
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(measureFrom)
	if o.rate == 0 {
		res.elapsed = o.duration // workers stop at end; the last calls started before it
	}
	res.handshakes, res.resumed = int(hs.Load()), int(rs.Load())
	return res
}

// workers returns a constructor of per-worker calls for the mode and a
// function that closes what they opened.
func workers(o *options) (func(int) (call, error), func(), error) {
	tlsConf := &tls.Config{RootCAs: o.ca, MinVersion: tls.VersionTLS13, ServerName: o.sni}
	payload := bytes.Repeat([]byte{'x'}, o.body)
	var closers []func()
	var mu sync.Mutex
	addCloser := func(f func()) { mu.Lock(); closers = append(closers, f); mu.Unlock() }
	closeAll := func() {
		for _, f := range closers {
			f()
		}
	}
	switch o.mode {
	case "h1", "h2", "h3":
		sessions := tls.NewLRUClientSessionCache(o.conns * 4)
		return func(int) (call, error) {
			var rt http.RoundTripper
			switch o.mode {
			case "h3":
				tr := &http3.Transport{TLSClientConfig: tlsConf.Clone()}
				addCloser(func() { tr.Close() })
				rt = tr
			default:
				tc := tlsConf.Clone()
				if o.newConn && o.resume {
					tc.ClientSessionCache = sessions
				}
				tr := &http.Transport{
					TLSClientConfig:     tc,
					MaxIdleConnsPerHost: 1,
					MaxConnsPerHost:     1,
					DisableCompression:  true,
					DisableKeepAlives:   o.newConn,
					Protocols:           new(http.Protocols),
					DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				}
				switch {
				case o.mode == "h1":
					tr.Protocols.SetHTTP1(true)
				case strings.HasPrefix(o.url, "https:"):
					tr.Protocols.SetHTTP2(true)
				default:
					tr.Protocols.SetUnencryptedHTTP2(true)
				}
				addCloser(tr.CloseIdleConnections)
				rt = tr
			}
			return func() (int, error) {
				var req *http.Request
				var err error
				if o.body > 0 {
					req, err = http.NewRequest(http.MethodPost, o.url, bytes.NewReader(payload))
				} else {
					req, err = http.NewRequest(http.MethodGet, o.url, nil)
				}
				if err != nil {
					return -1, err
				}
				if name, value, ok := strings.Cut(o.header, ":"); ok {
					req.Header.Set(name, strings.TrimSpace(value))
				}
				resp, err := rt.RoundTrip(req)
				if err != nil {
					return -1, err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				r := -1
				if o.newConn && resp.TLS != nil {
					r = 0
					if resp.TLS.DidResume {
						r = 1
					}
				}
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				return r, err
			}, nil
		}, closeAll, nil
	case "grpc-unary", "grpc-stream":
		return func(int) (call, error) {
			cc, err := grpc.NewClient(o.target,
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.ForceCodec(rawgrpc.Codec{})))
			if err != nil {
				return nil, err
			}
			addCloser(func() { cc.Close() })
			if o.mode == "grpc-unary" {
				return func() (int, error) {
					out := new([]byte)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					return -1, cc.Invoke(ctx, rawgrpc.Unary, &payload, out)
				}, nil
			}
			// One bidirectional stream per worker for the whole run; a
			// call is one message out and its echo back.
			st, err := cc.NewStream(context.Background(), &rawgrpc.StreamDesc, rawgrpc.Stream)
			if err != nil {
				return nil, err
			}
			addCloser(func() { st.CloseSend() }) //nolint:errcheck // the run is over; the connection closes next
			return func() (int, error) {
				if err := st.SendMsg(&payload); err != nil {
					return -1, err
				}
				out := new([]byte)
				return -1, st.RecvMsg(out)
			}, nil
		}, closeAll, nil
	}
	return nil, nil, fmt.Errorf("unknown mode %q", o.mode)
}
