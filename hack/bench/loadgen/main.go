// Command loadgen sends HTTP/1.1 requests at a fixed rate and reports the
// latency distribution. It is the benchmark's "added p99 at 1k rps" probe:
// wrk measures throughput with as much load as it can make, which says
// little about the latency a proxy adds at an ordinary load.
//
// Latency is measured from the moment each request was *scheduled*, not
// when a connection became free to send it, so a stall shows up in the
// percentiles instead of silently lowering the rate (coordinated omission).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:18080/", "URL to GET")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 5*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "unmeasured lead-in at the same rate (opens connections, warms caches)")
	conns := flag.Int("conns", 16, "keep-alive connections (and workers)")
	flag.Parse()
	if *rate <= 0 || *rate > 1_000_000 || *conns <= 0 || *conns > 10_000 || *duration <= 0 || *duration > time.Hour {
		fmt.Fprintln(os.Stderr, "loadgen: rate 1..1e6, conns 1..1e4, duration up to 1h")
		os.Exit(2)
	}

	tr := &http.Transport{
		MaxIdleConns:        *conns,
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	interval := time.Second / time.Duration(*rate)
	nWarm := int(*warmup / interval)
	nMeasured := int(*duration / interval)
	total := nWarm + nMeasured

	type job struct {
		at       time.Time
		measured bool
	}
	jobs := make(chan job, total)
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, nMeasured)
		errors    int
	)
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, nMeasured / *conns + 1)
			localErr := 0
			for j := range jobs {
				// Early: sleep to the slot and time from waking, so the
				// scheduler's own oversleep is not charged to the server.
				// Late (every worker was busy): time from the slot.
				begin := j.at
				if d := time.Until(j.at); d > 0 {
					time.Sleep(d)
					begin = time.Now()
				}
				resp, err := client.Get(*url)
				ok := err == nil
				if ok {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = err == nil && resp.StatusCode == http.StatusOK
				}
				lat := time.Since(begin)
				if !j.measured {
					continue
				}
				if !ok {
					localErr++
					continue
				}
				local = append(local, lat)
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errors += localErr
			mu.Unlock()
		}()
	}

	// The schedule is fixed up front; workers wait for each slot. A slot
	// that finds every worker busy is served late and counted late.
	start := time.Now().Add(10 * time.Millisecond)
	for i := range total {
		jobs <- job{at: start.Add(time.Duration(i) * interval), measured: i >= nWarm}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(latencies)-1))
		return float64(latencies[i]) / float64(time.Millisecond)
	}
	fmt.Printf("rate=%d sent=%d errors=%d elapsed_s=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
		*rate, len(latencies)+errors, errors, elapsed.Seconds(),
		pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
	if errors > 0 {
		os.Exit(1)
	}
}
