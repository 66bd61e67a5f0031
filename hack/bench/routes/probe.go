package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// prober sends GETs to the Gateway's address with a chosen Host header over keep-alive
// connections. It writes each request itself and reads the answer with http.ReadResponse
// on the caller's goroutine: net/http's Transport hands every request to a connection's
// writer goroutine and its answer back from a reader goroutine, and with back-to-back
// probes that hand-off was a large share of the driver's CPU per added route (the
// report's CPU line for the adding step shows the driver's), taken from the components it
// measures (everything shares two cores).
type prober struct {
	addr    string // host:port of the Gateway listener
	timeout time.Duration
	idle    chan *probeConn
}

type probeConn struct {
	nc  net.Conn
	br  *bufio.Reader
	req []byte
}

func newProber(addr string, conns int) *prober {
	return &prober{addr: addr, timeout: 5 * time.Second, idle: make(chan *probeConn, conns)}
}

// conn takes an idle connection, or dials one.
func (p *prober) conn(ctx context.Context) (*probeConn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &probeConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

// put keeps c for the next probe, or closes it when enough are idle.
func (p *prober) put(c *probeConn) {
	select {
	case p.idle <- c:
	default:
		c.nc.Close()
	}
}

// answer is one probe's outcome: code 0 means the request failed (err says why).
type answer struct {
	code       int
	pod        string // the echo server's pod name, when asked for
	err        error
	start, end time.Time
}

// get requests path with Host host. With wantPod it decodes the echo server's JSON to
// learn which pod answered. A request whose kept-alive connection turns out closed by the
// proxy before any answer (the write fails, or the read finds the end of the stream or a
// reset) is sent once more on a new one, as net/http's Transport does; any other failure,
// a timeout among them, is the probe's answer.
func (p *prober) get(ctx context.Context, host, path string, wantPod bool) answer {
	a := answer{start: time.Now()}
	for attempt := 0; ; attempt++ {
		code, pod, stale, err := p.exchange(ctx, host, path, wantPod)
		if stale && attempt == 0 && ctx.Err() == nil {
			continue
		}
		a.code, a.pod, a.err, a.end = code, pod, err, time.Now()
		return a
	}
}

// exchange sends one request; stale reports a failure that says a reused connection had
// been closed by the peer before it answered.
func (p *prober) exchange(ctx context.Context, host, path string, wantPod bool) (code int, pod string, stale bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, "", false, err
	}
	c, err := p.conn(ctx)
	if err != nil {
		return 0, "", false, err
	}
	reused := c.req != nil
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, host...)
	c.req = append(c.req, "\r\nUser-Agent: bench-control-plane\r\n\r\n"...)
	c.nc.SetDeadline(time.Now().Add(p.timeout))
	// Cancelling ctx ends a wait at once instead of at the deadline.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.nc.Write(c.req); err != nil {
		c.nc.Close()
		return 0, "", reused && closedByPeer(err), err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.nc.Close()
		return 0, "", reused && (err == io.EOF || closedByPeer(err)), err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	// Close reads what is left of the body (beyond the limit) so the connection is at the
	// next answer; if it cannot, the connection is not reused.
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil || resp.Close || !stop() {
		c.nc.Close()
	} else {
		p.put(c)
	}
	if err != nil {
		return resp.StatusCode, "", false, err
	}
	if wantPod && resp.StatusCode == http.StatusOK {
		var echo struct {
			Pod string `json:"pod"`
		}
		if json.Unmarshal(body, &echo) == nil {
			pod = echo.Pod
		}
	}
	return resp.StatusCode, pod, false, nil
}

// closedByPeer reports an error of a socket the peer had closed or reset.
func closedByPeer(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// tally counts probe outcomes. Codes other than 200 and 404 are errors; so are failed
// requests (counted apart, as they say the proxy or its address was unreachable).
type tally struct {
	ok, notFound, badCode, failed int
	codes                         map[int]int
	lastErr                       error
}

func (t *tally) add(a answer) {
	switch a.code {
	case 0:
		t.failed++
		t.lastErr = a.err
	case http.StatusOK:
		t.ok++
	case http.StatusNotFound:
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
