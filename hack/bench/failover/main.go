// Command failover measures how much traffic a flapping endpoint takes
// while it fails, with the proxy's failure handling off, with outlier
// detection, and with active health checks.
//
// It starts four loopback backends, three always healthy and one that
// turns from healthy to failing (503, also on its health check path) and
// back every -flip; runs the proxy binary given with -proxy on a config
// file; and sends requests over -conns keep-alive connections for
// -seconds per mode, retries off. Per mode it prints
//
//	bench-failover: mode=<m> failing_share=<%> of healthy share
//
// where failing_share is the failed responses of the flapping endpoint as a
// percentage of the mean responses of one healthy endpoint over the same
// run: about 50 % with nothing to take the endpoint out (it fails half the
// time), the lower the better.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	proxy := flag.String("proxy", "", "proxy binary (go build ./proxy/cmd/proxy)")
	seconds := flag.Int("seconds", 40, "measured seconds per mode")
	flip := flag.Duration("flip", 5*time.Second, "how long the flapping endpoint stays healthy, then failing")
	conns := flag.Int("conns", 8, "concurrent client connections")
	modes := flag.String("modes", "none,outlier,health", "modes to run, comma-separated")
	flag.Parse()
	if *proxy == "" {
		log.Fatal("-proxy is required")
	}
	if err := runAll(*proxy, splitComma(*modes), time.Duration(*seconds)*time.Second, *flip, *conns); err != nil {
		log.Fatal(err)
	}
}

func runAll(proxy string, modes []string, d, flip time.Duration, conns int) (err error) {
	dir, err := os.MkdirTemp("", "bench-failover")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
	}()
	for _, m := range modes {
		share, err := run(proxy, dir, m, d, flip, conns)
		if err != nil {
			return fmt.Errorf("mode %s: %w", m, err)
		}
		fmt.Printf("bench-failover: mode=%s failing_share=%.2f%% of healthy share\n", m, share)
	}
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// backend is one loopback endpoint with its response counts.
type backend struct {
	srv     *http.Server
	addr    string
	failing atomic.Bool
	ok      atomic.Int64
	failed  atomic.Int64
}

func startBackend() (*backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &backend{addr: ln.Addr().String()}
	b.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := b.failing.Load()
		if r.URL.Path == "/healthz" {
			if fail {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		if fail {
			b.failed.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b.ok.Add(1)
	})}
	go func() {
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}()
	return b, nil
}

func config(mode string, port int, bs []*backend) map[string]any {
	var eps []map[string]any
	for _, b := range bs {
		eps = append(eps, map[string]any{"address": b.addr})
	}
	res := map[string]any{}
	switch mode {
	case "none":
		res["outlierDetection"] = map[string]any{"consecutiveGatewayErrors": 0, "consecutiveLocalOriginFailures": 0}
	case "outlier":
		// The defaults: 5 consecutive gateway errors eject for 5 s, growing.
	case "health":
		// Health checks alone: outlier detection off.
		res["outlierDetection"] = map[string]any{"consecutiveGatewayErrors": 0, "consecutiveLocalOriginFailures": 0}
		res["healthCheck"] = map[string]any{"interval": "25ms", "timeout": "25ms", "unhealthyThreshold": 1, "healthyThreshold": 2,
			"http": map[string]any{"path": "/healthz"}}
	}
	return map[string]any{
		"version":  mode,
		"backends": []any{map[string]any{"name": "flap", "endpoints": eps, "resilience": res}},
		"binds": []any{map[string]any{"name": "http", "address": "127.0.0.1", "port": port, "protocol": "HTTP",
			"listeners": []any{map[string]any{"name": "web", "protocol": "HTTP",
				"httpRoutes": []any{map[string]any{"namespace": "default", "name": "r",
					"rules": []any{map[string]any{"backendRefs": []any{map[string]any{"backend": "flap"}}}}}}}}}},
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func run(proxyBin, dir, mode string, d, flip time.Duration, conns int) (float64, error) {
	var bs []*backend
	defer func() {
		for _, b := range bs {
			if err := b.srv.Close(); err != nil {
				log.Print(err)
			}
		}
	}()
	for range 4 {
		b, err := startBackend()
		if err != nil {
			return 0, err
		}
		bs = append(bs, b)
	}
	flapping := bs[3]
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	admin, err := freePort()
	if err != nil {
		return 0, err
	}
	js, err := json.Marshal(config(mode, port, bs))
	if err != nil {
		return 0, err
	}
	path := filepath.Join(dir, mode+".json")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		return 0, err
	}
	cmd := exec.Command(proxyBin, "--config", path, "--admin-addr", "127.0.0.1:"+strconv.Itoa(admin),
		"--health-addr", "", "--metrics-addr", "", "--drain-period", "0s", "--drain-timeout", "1s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer stopProxy(cmd)
	if err := waitReady(fmt.Sprintf("http://127.0.0.1:%d/ready", admin)); err != nil {
		return 0, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	// The flapping endpoint is healthy for flip, failing for flip, and so on.
	go func() {
		t := time.NewTicker(flip)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				flapping.failing.Store(!flapping.failing.Load())
			}
		}
	}()
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := client.Get(url)
				if err != nil {
					errs.Add(1)
					continue
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					errs.Add(1)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	healthy := float64(bs[0].ok.Load()+bs[1].ok.Load()+bs[2].ok.Load()) / 3
	if healthy == 0 {
		return 0, errors.New("no request reached a healthy endpoint")
	}
	fmt.Fprintf(os.Stderr, "bench-failover detail: mode=%s healthy=%d,%d,%d flapping ok=%d failed=%d client errors=%d\n", mode,
		bs[0].ok.Load(), bs[1].ok.Load(), bs[2].ok.Load(), flapping.ok.Load(), flapping.failed.Load(), errs.Load())
	return 100 * float64(flapping.failed.Load()) / healthy, nil
}

// stopProxy stops the proxy this program started, by its process.
func stopProxy(cmd *exec.Cmd) {
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		log.Printf("stopping the proxy: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		if kerr := cmd.Process.Kill(); kerr != nil {
			log.Printf("killing the proxy: %v", kerr)
		}
		err = <-done
	}
	if err != nil {
		log.Printf("proxy exited: %v", err)
	}
}

func waitReady(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url) //nolint:gosec,noctx // loopback admin address built here
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxy not ready at %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
