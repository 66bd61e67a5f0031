package upstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// waitFor polls cond until it holds; it fails the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// healthServer answers /healthz with 200 or 503 as healthy says, and
// counts the other requests it serves.
type healthServer struct {
	*httptest.Server
	healthy  atomic.Bool
	checks   atomic.Int64
	requests atomic.Int64
}

func newHealthServer(t *testing.T) *healthServer {
	t.Helper()
	h := &healthServer{}
	h.healthy.Store(true)
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.checks.Add(1)
			if !h.healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		h.requests.Add(1)
		if _, err := io.Copy(w, r.Body); err != nil {
			t.Errorf("echo: %v", err)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *healthServer) addr() string { return h.Listener.Addr().String() }

func get(t *testing.T, b *Backend, prefer string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", "http://placeholder/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if prefer != "" {
		req = req.WithContext(WithPick(req.Context(), &Picked{Prefer: prefer}))
	}
	resp, err := b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp
}

func intp(n int) *int { return &n }

func TestActiveHealthChecksHTTP(t *testing.T) {
	before := runtime.NumGoroutine()
	s1, s2, s3 := newHealthServer(t), newHealthServer(t), newHealthServer(t)
	// The default timeout (1s, longer than the interval): a loaded machine
	// must not fail the healthy endpoints' checks.
	hc := &config.HealthCheck{Interval: config.D(20 * time.Millisecond),
		HealthyThreshold: 2, UnhealthyThreshold: 2, HTTP: &config.HTTPHealthCheck{Path: "/healthz", ExpectedStatuses: []config.StatusRange{{Start: 200, End: 204}}}}
	cfg := config.Backend{Name: "svc", Endpoints: []config.Endpoint{{Address: s1.addr()}, {Address: s2.addr()}},
		Resilience: &config.Resilience{HealthCheck: hc}}
	p := NewPool()
	set, err := p.Prepare([]config.Backend{cfg})
	if err != nil {
		t.Fatal(err)
	}
	p.Commit(set)
	b := set["svc"]
	ep2 := b.byAddr[s2.addr()]

	s2.healthy.Store(false)
	waitFor(t, "endpoint 2 unhealthy", ep2.unhealthy.Load)
	for range 50 {
		if resp := get(t, b, ""); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Not even session persistence sends to an unhealthy endpoint.
	get(t, b, s2.addr())
	if n := s2.requests.Load(); n != 0 {
		t.Fatalf("unhealthy endpoint got %d requests", n)
	}

	// An unchanged config keeps the backend and its checks; a changed one
	// (a third endpoint) takes over the health state, so the unhealthy
	// endpoint gets no traffic in between.
	checks := s2.checks.Load()
	same, err := p.Prepare([]config.Backend{cfg})
	if err != nil {
		t.Fatal(err)
	}
	if same["svc"] != b {
		t.Fatal("unchanged backend rebuilt")
	}
	p.Commit(same)
	cfg.Endpoints = append(cfg.Endpoints, config.Endpoint{Address: s3.addr()})
	next, err := p.Prepare([]config.Backend{cfg})
	if err != nil {
		t.Fatal(err)
	}
	p.Commit(next)
	nb := next["svc"]
	if !nb.byAddr[s2.addr()].unhealthy.Load() {
		t.Fatal("health state lost across a backend change")
	}
	for range 30 {
		get(t, nb, "")
	}
	if n := s2.requests.Load(); n != 0 {
		t.Fatalf("unhealthy endpoint got %d requests after the change", n)
	}
	b.waitHealth() // the old backend's checks stop on Commit
	if s3.requests.Load() == 0 {
		t.Fatal("new endpoint got no traffic")
	}

	s2.healthy.Store(true)
	waitFor(t, "endpoint 2 healthy again", func() bool { return !nb.byAddr[s2.addr()].unhealthy.Load() })
	waitFor(t, "endpoint 2 traffic", func() bool { get(t, nb, ""); return s2.requests.Load() > 0 })
	if s2.checks.Load() <= checks {
		t.Fatal("no checks after the reloads")
	}

	p.Close()
	nb.waitHealth()
	s1.Close()
	s2.Close()
	s3.Close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestActiveHealthChecksTCP(t *testing.T) {
	live := newHealthServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	p := NewPool()
	set, err := p.Prepare([]config.Backend{{Name: "svc", Endpoints: []config.Endpoint{{Address: live.addr()}, {Address: deadAddr}},
		Resilience: &config.Resilience{HealthCheck: &config.HealthCheck{Interval: config.D(10 * time.Millisecond), UnhealthyThreshold: 1, TCP: &config.TCPHealthCheck{}},
			// Outlier detection off: only the health check may take the
			// endpoint out.
			OutlierDetection: &config.OutlierDetection{ConsecutiveLocalOriginFailures: intp(0)}, ConnectRetries: intp(0)}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Commit(set)
	defer p.Close()
	b := set["svc"]
	waitFor(t, "refusing endpoint unhealthy", b.byAddr[deadAddr].unhealthy.Load)
	if b.byAddr[live.addr()].unhealthy.Load() {
		t.Fatal("live endpoint unhealthy")
	}
	for range 20 {
		if resp := get(t, b, ""); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func TestOutlierDetectionConfigured(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	ok := newHealthServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	od := &config.OutlierDetection{Consecutive5xx: 2, ConsecutiveGatewayErrors: intp(0), ConsecutiveLocalOriginFailures: intp(2),
		BaseEjectionTime: config.D(time.Hour), MaxEjectionTime: config.D(3 * time.Hour), Interval: config.D(time.Hour), MaxEjectionPercent: intp(100)}
	b := backendOf(t, config.Backend{Name: "outlier", Endpoints: []config.Endpoint{{Address: srv.Listener.Addr().String()}, {Address: deadAddr}, {Address: ok.addr()}},
		Resilience: &config.Resilience{OutlierDetection: od, ConnectRetries: intp(0)}})
	ejections := testutil.ToFloat64(ejectionsTotal.WithLabelValues("outlier"))
	bad, dead := b.byAddr[srv.Listener.Addr().String()], b.byAddr[deadAddr]

	// 500 is not a gateway error, but two in a row are two 5xx.
	if resp := get(t, b, bad.Address); resp.StatusCode != 500 || bad.ejected(nowNano()) {
		t.Fatal("ejected after one 500")
	}
	get(t, b, bad.Address)
	if !bad.ejected(nowNano()) {
		t.Fatal("not ejected after two consecutive 500s")
	}
	first := bad.ejectedUntil.Load() - nowNano()
	if first <= 59*int64(time.Minute) || first > int64(time.Hour) {
		t.Fatalf("first ejection lasts %v, want the base ejection time", time.Duration(first))
	}
	// A second ejection, still within the interval, lasts twice as long.
	bad.ejectedUntil.Store(0)
	get(t, b, bad.Address)
	get(t, b, bad.Address)
	if second := bad.ejectedUntil.Load() - nowNano(); second <= 119*int64(time.Minute) || second > 2*int64(time.Hour) {
		t.Fatalf("second ejection lasts %v, want twice the base", time.Duration(second))
	}

	// Local-origin failures: the second refused connect ejects.
	req := func() error {
		r, err := http.NewRequest("GET", "http://placeholder/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r = r.WithContext(WithPick(r.Context(), &Picked{Prefer: deadAddr}))
		resp, err := b.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := req(); err == nil || dead.ejected(nowNano()) {
		t.Fatalf("first connect failure: err=%v ejected=%v", err, dead.ejected(nowNano()))
	}
	if err := req(); err == nil || !dead.ejected(nowNano()) {
		t.Fatal("not ejected after two connect failures")
	}
	if got := testutil.ToFloat64(ejectionsTotal.WithLabelValues("outlier")); got != ejections+3 {
		t.Fatalf("ejections metric %v, want 3", got)
	}
}

// blockingServer holds every request until release is closed.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}, release func()) {
	t.Helper()
	arrived = make(chan struct{}, 16)
	released := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	srv = httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		arrived <- struct{}{}
		<-released
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(release) // runs first
	return srv, arrived, release
}

type result struct {
	resp *http.Response
	err  error
}

func goGet(b *Backend) chan result {
	ch := make(chan result, 1)
	go func() {
		req, err := http.NewRequest("GET", "http://placeholder/", nil)
		if err != nil {
			ch <- result{err: err}
			return
		}
		resp, err := b.RoundTrip(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ch <- result{resp, err}
	}()
	return ch
}

func TestCircuitBreakers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cb    config.CircuitBreakers
		limit string
	}{
		{"requests", config.CircuitBreakers{MaxRequests: 1}, limitRequests},
		{"connections", config.CircuitBreakers{MaxConnections: 1}, limitConnections},
		{"pending", config.CircuitBreakers{MaxConnections: 1, MaxPendingRequests: 1}, limitPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, arrived, release := blockingServer(t)
			name := "cb-" + tc.name
			b := backendOf(t, config.Backend{Name: name, Endpoints: []config.Endpoint{{Address: srv.Listener.Addr().String()}},
				Resilience: &config.Resilience{CircuitBreakers: &tc.cb}})
			if b.FastH1() {
				t.Fatal("fast path would bypass the circuit breakers")
			}
			overflows := testutil.ToFloat64(overflowTotal.WithLabelValues(name, tc.limit))
			first := goGet(b)
			<-arrived
			var second chan result
			if tc.cb.MaxPendingRequests > 0 {
				second = goGet(b) // waits for the connection
				waitFor(t, "a pending request", func() bool { return b.pending.Load() == 1 })
			}
			resp := get(t, b, "")
			if resp.StatusCode != 503 || resp.Header.Get("x-agentgateway-overflow") != tc.limit {
				t.Fatalf("over the limit: %d %q", resp.StatusCode, resp.Header.Get("x-agentgateway-overflow"))
			}
			if got := testutil.ToFloat64(overflowTotal.WithLabelValues(name, tc.limit)); got != overflows+1 {
				t.Fatalf("overflow metric %v", got)
			}
			release()
			for _, ch := range []chan result{first, second} {
				if ch == nil {
					continue
				}
				r := <-ch
				if r.err != nil || r.resp.StatusCode != 200 {
					t.Fatalf("admitted request: %v", r.err)
				}
			}
			// Limits are released: a request goes through again.
			if resp := get(t, b, ""); resp.StatusCode != 200 {
				t.Fatalf("after release: %d", resp.StatusCode)
			}
		})
	}
	b := backendOf(t, config.Backend{Name: "cb-retries", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}},
		Resilience: &config.Resilience{CircuitBreakers: &config.CircuitBreakers{MaxRetries: 1}}})
	retryOverflows := testutil.ToFloat64(overflowTotal.WithLabelValues("cb-retries", limitRetries))
	if !b.StartRetry() || b.StartRetry() {
		t.Fatal("max retries not enforced")
	}
	if got := testutil.ToFloat64(overflowTotal.WithLabelValues("cb-retries", limitRetries)); got != retryOverflows+1 {
		t.Fatalf("retry overflow metric %v", got)
	}
}

func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConnectFailureRetriedOnAnotherEndpoint(t *testing.T) {
	live := newHealthServer(t)
	dead1, dead2 := deadAddress(t), deadAddress(t)
	for _, h1 := range []bool{true, false} {
		name := "retry-h1"
		if !h1 {
			name = "retry-transport"
		}
		t.Run(name, func(t *testing.T) {
			b := backendOf(t, config.Backend{Name: name, Endpoints: []config.Endpoint{{Address: dead1}, {Address: dead2}, {Address: live.addr()}},
				// Ejection off, so every request meets the refusing endpoint.
				Resilience: &config.Resilience{OutlierDetection: &config.OutlierDetection{ConsecutiveLocalOriginFailures: intp(0)}}})
			if !h1 {
				DisableH1Client.Store(true)
				defer DisableH1Client.Store(false)
			}
			retries := testutil.ToFloat64(connectRetriesTotal.WithLabelValues(name))
			const n = 10
			for i := range n {
				body := strings.Repeat("x", 100+i)
				req, err := http.NewRequest("POST", "http://placeholder/", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if !h1 {
					req.GetBody = nil // as on a proxied request: the body cannot be re-read
				}
				req = req.WithContext(WithPick(req.Context(), &Picked{Prefer: dead1}))
				resp, err := b.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if !bytes.Equal(got, []byte(body)) {
					t.Fatalf("body %q", got)
				}
			}
			if got := testutil.ToFloat64(connectRetriesTotal.WithLabelValues(name)) - retries; got < n {
				t.Fatalf("connect retries metric %v, want >= %d", got, n)
			}
		})
	}
	// The fast path's AcquireH1 retries too; with retries off it fails.
	b := backendOf(t, config.Backend{Name: "retry-fast", Endpoints: []config.Endpoint{{Address: dead1}, {Address: live.addr()}}})
	c, ep, err := b.AcquireH1(context.Background(), dead1, false)
	if err != nil || ep.Address != live.addr() {
		t.Fatalf("AcquireH1: %v", err)
	}
	b.ReleaseH1(c, false)
	off := backendOf(t, config.Backend{Name: "retry-off", Endpoints: []config.Endpoint{{Address: dead1}, {Address: live.addr()}},
		Resilience: &config.Resilience{ConnectRetries: intp(0)}})
	if _, _, err := off.AcquireH1(context.Background(), dead1, false); err == nil {
		t.Fatal("connect retried with connectRetries 0")
	}
}

func TestStalePooledConnRetriedOnAnotherEndpoint(t *testing.T) {
	live := newHealthServer(t)
	// An endpoint that is shut down after serving one request: its pooled
	// connection is closed and it refuses new ones, as in a rollout.
	old := newHealthServer(t)
	b := backendOf(t, config.Backend{Name: "stale", Endpoints: []config.Endpoint{{Address: old.addr()}, {Address: live.addr()}}})
	if resp := get(t, b, old.addr()); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	old.Close()
	if resp := get(t, b, old.addr()); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if live.requests.Load() != 1 {
		t.Fatalf("live endpoint served %d requests, want 1", live.requests.Load())
	}
}

func TestTerminatingEndpointsGetNoNewRequests(t *testing.T) {
	term, live := newHealthServer(t), newHealthServer(t)
	b := backendOf(t, config.Backend{Name: "term", Endpoints: []config.Endpoint{{Address: term.addr(), Terminating: true}, {Address: live.addr()}}})
	for range 30 {
		get(t, b, "")
	}
	get(t, b, term.addr())
	if n := term.requests.Load(); n != 0 {
		t.Fatalf("terminating endpoint got %d requests", n)
	}
	all := backendOf(t, config.Backend{Name: "term-all", Endpoints: []config.Endpoint{{Address: term.addr(), Terminating: true}}})
	if resp := get(t, all, ""); resp.StatusCode != 200 || term.requests.Load() != 1 {
		t.Fatal("all endpoints terminating: request not served")
	}
}
