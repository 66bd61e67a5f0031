package dataplane

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestSwap1000TimesUnderLoad swaps between two configs 1000 times while
// clients keep sending requests, and requires every request to succeed.
func TestSwap1000TimesUnderLoad(t *testing.T) {
	a, b := startBackend(t, "a", false), startBackend(t, "b", false)
	port := freePort(t)
	rt := newRuntime(t)
	mk := func(version int) *config.Config {
		target := "a"
		if version%2 == 1 {
			target = "b"
		}
		return &config.Config{
			Version: fmt.Sprint(version),
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{
				BackendRefs: to(target),
				Filters:     []config.HTTPFilter{{ResponseHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-version", Value: fmt.Sprint(version)}}}}},
			})}})},
			Backends: []config.Backend{be("a", a.addr), be("b", b.addr)},
		}
	}
	mustApply(t, rt, mk(0))
	first := rt.servers["http"]

	const (
		clients    = 4
		maxPerLoop = 20000 // bound on requests per client
		swaps      = 1000
	)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		stop     atomic.Bool
		ok, fail atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < maxPerLoop && !stop.Load(); n++ {
				resp, err := c.Get(url)
				if err == nil {
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					fail.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for v := 1; v <= swaps; v++ {
		if err := rt.Apply(mk(v)); err != nil {
			t.Fatalf("swap %d: %v", v, err)
		}
		// Interleave: let at least two requests complete per swap, so
		// every swap happens with requests in flight around it.
		deadline := time.Now().Add(5 * time.Second)
		for ok.Load()+fail.Load() < int64(2*v) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Microsecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	if fail.Load() != 0 {
		t.Fatalf("%d of %d requests failed during swaps; first: %v", fail.Load(), fail.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("no requests were sent")
	}
	if rt.servers["http"] != first {
		t.Fatal("the unchanged bind was re-bound")
	}
	if got := get(t, c, url, "").header.Get("X-Version"); got != fmt.Sprint(swaps) {
		t.Fatalf("serving version %q after the swaps, want %d", got, swaps)
	}
	t.Logf("%d requests across %d swaps, none failed", ok.Load(), swaps)
}

func TestInvalidConfigKeepsServing(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	good := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	mustApply(t, rt, good)
	bad := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("missing")}, be("a", a.addr))
	bad.Version = "2"
	var errs config.Errors
	if err := rt.Apply(bad); !errors.As(err, &errs) {
		t.Fatalf("bad config: got %v, want validation errors", err)
	}
	// A config that validates but cannot bind its port.
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	clash := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	clash.Version = "3"
	clash.Binds = append(clash.Binds, httpBind("clash", blocker.Addr().(*net.TCPAddr).Port, config.Listener{Name: "x"}))
	if err := rt.Apply(clash); err == nil {
		t.Fatal("config with an occupied port applied")
	}
	if v := rt.Current().Version; v != "1" {
		t.Fatalf("serving version %q, want 1", v)
	}
	if r := get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", port), ""); r.code != 200 {
		t.Fatalf("old config stopped serving: %d", r.code)
	}
}

func TestRemovedBindDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "finished")
	}))
	defer slow.Close()
	keepPort, dropPort := freePort(t), freePort(t)
	rt := newRuntime(t)
	route := config.HTTPRouteRule{BackendRefs: to("slow")}
	cfg := &config.Config{
		Version: "1",
		Binds: []config.Bind{
			httpBind("keep", keepPort, config.Listener{Name: "l", HTTPRoutes: []config.HTTPRoute{hroute("r", nil, route)}}),
			httpBind("drop", dropPort, config.Listener{Name: "l", HTTPRoutes: []config.HTTPRoute{hroute("r", nil, route)}}),
		},
		Backends: []config.Backend{be("slow", slow.Listener.Addr().String())},
	}
	mustApply(t, rt, cfg)
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", dropPort))
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		done <- result{body: string(b)}
	}()
	<-started
	next := &config.Config{Version: "2", Binds: cfg.Binds[:1], Backends: cfg.Backends}
	mustApply(t, rt, next)
	// New connections to the removed bind are refused right away...
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", dropPort)); err == nil {
		c.Close()
		t.Fatal("removed bind still accepts connections")
	}
	// ...while the request in flight completes.
	close(release)
	if r := <-done; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request on removed bind: %q %v", r.body, r.err)
	}
}
