package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// changeHeader is the request header each route change sets (to the change's number); the
// echo server returns it in its answer, so a client sees which change served it.
const changeHeader = "X-Bench-Change"

// traffic is the steady load: clients keep-alive clients, each with a connection of its
// own (net/http's Transport, which resends a GET once on a new connection when a reused
// one turns out closed by the server before answering, as browsers do), each starting a
// request at most every interval.
type traffic struct {
	url      string
	host     string
	clients  int
	interval time.Duration

	cur        atomic.Pointer[phaseCounts]
	lastChange atomic.Int64 // highest change number seen in an answer
}

func newTraffic(addr, host string, clients int, interval time.Duration) *traffic {
	return &traffic{url: "http://" + addr + "/", host: host, clients: clients, interval: interval}
}

// begin starts counting answers in a new phase; end stops.
func (t *traffic) begin(name string) *phaseCounts {
	pc := &phaseCounts{name: name, start: time.Now(), codes: map[int]int{}, errs: map[string]int{}, pods: map[string]int{}}
	t.cur.Store(pc)
	return pc
}

func (t *traffic) end() { t.cur.Store(nil) }

// start runs the clients until ctx ends; the channel closes when all stopped.
func (t *traffic) start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range t.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.client(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (t *traffic) client(ctx context.Context) {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		DisableCompression:    true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	tick := time.NewTicker(max(t.interval, time.Microsecond))
	defer tick.Stop()
	for ctx.Err() == nil {
		pc := t.cur.Load()
		a := t.get(ctx, hc)
		if ctx.Err() != nil {
			return // a request cut short by the end of the run is no answer
		}
		if a.change > 0 {
			for {
				old := t.lastChange.Load()
				if a.change <= old || t.lastChange.CompareAndSwap(old, a.change) {
					break
				}
			}
		}
		if pc != nil {
			pc.add(a)
		}
		if t.interval > 0 {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}
}

// answer is one request's outcome; code 0 means it failed (err says why).
type answer struct {
	at     time.Time
	code   int
	err    error
	pod    string
	change int64
	body   string // the start of a non-2xx answer's body
	server string // the Server header of a non-2xx answer
}

func (t *traffic) get(ctx context.Context, hc *http.Client) answer {
	a := answer{at: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		a.err = err
		return a
	}
	req.Host = t.host
	resp, err := hc.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	a.code = resp.StatusCode
	if err != nil {
		// The status line arrived but not the whole body: a failed request all the same.
		a.code, a.err = 0, fmt.Errorf("status %d, body: %w", resp.StatusCode, err)
		return a
	}
	if a.code/100 != 2 {
		a.body = strings.TrimSpace(string(body[:min(len(body), 200)]))
		a.server = resp.Header.Get("Server")
		return a
	}
	var echo struct {
		Pod     string              `json:"pod"`
		Headers map[string][]string `json:"headers"`
	}
	if json.Unmarshal(body, &echo) == nil {
		a.pod = echo.Pod
		if v := echo.Headers[changeHeader]; len(v) > 0 {
			if n, err := strconv.ParseInt(v[0], 10, 64); err == nil {
				a.change = n
			}
		}
	}
	return a
}

// phaseCounts are the answers of the requests started during one phase.
type phaseCounts struct {
	name  string
	start time.Time
	wall  time.Duration

	mu                   sync.Mutex
	requests, ok, non2xx int
	failed               int
	codes                map[int]int
	errs                 map[string]int // failed requests by the innermost error's text
	pods                 map[string]int // 2xx answers by the echo pod that served them
	samples              []answer       // the first non-2xx answers and failures
}

const maxSamples = 8

func (pc *phaseCounts) add(a answer) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.requests++
	switch {
	case a.code == 0:
		pc.failed++
		pc.errs[errorKind(a.err)]++
	case a.code/100 == 2:
		pc.ok++
		pc.pods[a.pod]++
		return
	default:
		pc.non2xx++
		pc.codes[a.code]++
	}
	if len(pc.samples) < maxSamples {
		pc.samples = append(pc.samples, a)
	}
}

func (pc *phaseCounts) brief() string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return fmt.Sprintf("requests=%d non2xx=%d errors=%d", pc.requests, pc.non2xx, pc.failed)
}

// errorKind is the text of the innermost error, without the addresses net.OpError and
// url.Error put around it, so failures group by cause.
func errorKind(err error) string {
	if err == nil {
		return "<nil>"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// sortedKeys returns the keys of m, most frequent first.
func sortedKeys[K comparable](m map[K]int, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return less(keys[i], keys[j])
	})
	return keys
}
