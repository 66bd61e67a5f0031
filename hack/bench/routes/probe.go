package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// prober sends GETs to the Gateway's address with a chosen Host header over keep-alive
// connections.
type prober struct {
	addr   string // host:port of the Gateway listener
	client *http.Client
}

func newProber(addr string, conns int) *prober {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &prober{addr: addr, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// answer is one probe's outcome: code 0 means the request failed (err says why).
type answer struct {
	code       int
	pod        string // the echo server's pod name, when asked for
	err        error
	start, end time.Time
}

// get requests path with Host host. With wantPod it decodes the echo server's JSON to
// learn which pod answered.
func (p *prober) get(ctx context.Context, host, path string, wantPod bool) answer {
	a := answer{start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a
	}
	req.Host = host
	resp, err := p.client.Do(req)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	a.code, a.end = resp.StatusCode, time.Now()
	if err != nil {
		a.err = err
	}
	if wantPod && resp.StatusCode == http.StatusOK {
		var echo struct {
			Pod string `json:"pod"`
		}
		if json.Unmarshal(body, &echo) == nil {
			a.pod = echo.Pod
		}
	}
	return a
}

// tally counts probe outcomes. Codes other than 200 and 404 are errors; so are failed
// requests (counted apart, as they say the proxy or its address was unreachable).
type tally struct {
	ok, notFound, badCode, failed int
	codes                         map[int]int
	lastErr                       error
}

func (t *tally) add(a answer) {
	switch {
	case a.code == 0:
		t.failed++
		t.lastErr = a.err
	case a.code == http.StatusOK:
		t.ok++
	case a.code == http.StatusNotFound:
		t.notFound++
	default:
		t.badCode++
		if t.codes == nil {
			t.codes = map[int]int{}
		}
		t.codes[a.code]++
	}
}

func (t *tally) errors() int { return t.badCode + t.failed }

func (t *tally) merge(o tally) {
	t.ok += o.ok
	t.notFound += o.notFound
	t.badCode += o.badCode
	t.failed += o.failed
	for c, n := range o.codes {
		if t.codes == nil {
			t.codes = map[int]int{}
		}
		t.codes[c] += n
	}
	if o.lastErr != nil {
		t.lastErr = o.lastErr
	}
}

// sweep probes every host in hosts (path from pathOf) with workers in parallel, again
// and again, until each answered want once; it returns when all did or ctx ends, with
// the outcomes of every probe. onRound, if set, is called after each round with how
// many hosts are still pending.
func (p *prober) sweep(ctx context.Context, hosts []string, pathOf func(host string) string, want, workers int, onRound func(pending int)) (tally, error) {
	pending := append([]string(nil), hosts...)
	var total tally
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var (
			mu    sync.Mutex
			still []string
			wg    sync.WaitGroup
		)
		next := make(chan string)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var local tally
				var left []string
				for h := range next {
					a := p.get(ctx, h, pathOf(h), false)
					local.add(a)
					if a.code != want {
						left = append(left, h)
					}
				}
				mu.Lock()
				total.merge(local)
				still = append(still, left...)
				mu.Unlock()
			}()
		}
		for _, h := range pending {
			next <- h
		}
		close(next)
		wg.Wait()
		pending = still
		if onRound != nil {
			onRound(len(pending))
		}
		if len(pending) > 0 {
			// Not yet: do not spin on a handful of hosts faster than a config push.
			time.Sleep(time.Millisecond)
		}
	}
	return total, nil
}
