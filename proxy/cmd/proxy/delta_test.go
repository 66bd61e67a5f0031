package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

// pushCounter is a configstream.Observer that counts pushes and remembers acknowledged
// versions.
type pushCounter struct {
	whole, delta atomic.Int64
	mu           sync.Mutex
	acked        map[string]bool
}

func (p *pushCounter) Connected(configstream.StreamID, configstream.Node, string) {}
func (p *pushCounter) Heartbeat(configstream.StreamID, configstream.Node)         {}
func (p *pushCounter) Pushed(_ configstream.StreamID, _ configstream.Node, push configstream.Push) {
	if push.Delta {
		p.delta.Add(1)
	} else {
		p.whole.Add(1)
	}
}
func (p *pushCounter) Acked(_ configstream.StreamID, _ configstream.Node, v string) {
	p.mu.Lock()
	p.acked[v] = true
	p.mu.Unlock()
}
func (p *pushCounter) Nacked(configstream.StreamID, configstream.Node, string, string) {}
func (p *pushCounter) Disconnected(configstream.StreamID, configstream.Node, error)    {}

func (p *pushCounter) isAcked(v string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked[v]
}

// TestConfigStreamDeltasUnderLoad drives the proxy binary through 300 versions that the
// operator sends as deltas (routes added, removed and changed around one route that is
// under constant load) and checks that no request fails and that the proxy ends up
// serving exactly the latest version.
func TestConfigStreamDeltasUnderLoad(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	defer backend.Close()
	port := freePort(t)
	route := func(name, host, header string) config.HTTPRoute {
		return config.HTTPRoute{RouteMeta: config.RouteMeta{Namespace: "default", Name: name}, Hostnames: []string{host},
			Rules: []config.HTTPRouteRule{{
				BackendRefs: []config.BackendRef{{Backend: "b"}},
				Filters:     []config.HTTPFilter{{ResponseHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-version", Value: header}}}}},
			}}}
	}
	// Version i serves "hot.example.com" (always) with header i, and routes for hosts
	// i..i+49 (each added once and removed 50 versions later).
	mk := func(i int) *config.Config {
		routes := []config.HTTPRoute{route("hot", "hot.example.com", fmt.Sprint(i))}
		for j := i; j < i+50; j++ {
			routes = append(routes, route(fmt.Sprintf("r%d", j), fmt.Sprintf("%d.example.com", j), "x"))
		}
		return &config.Config{
			Binds: []config.Bind{{Name: "http", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTP,
				Listeners: []config.Listener{{Name: "web", Protocol: config.ProtocolHTTP, HTTPRoutes: routes}}}},
			Backends: []config.Backend{{Name: "b", Endpoints: []config.Endpoint{{Address: backend.Listener.Addr().String()}}}},
		}
	}
	key := configstream.GatewayKey{Namespace: "ns", Name: "gw"}
	snaps := configstream.NewSnapshots()
	if _, err := snaps.Set(key, mk(0)); err != nil {
		t.Fatal(err)
	}
	obs := &pushCounter{acked: map[string]bool{}}
	sp := startStreamProxy(t, snaps, configstream.AuthenticatorFunc(func(context.Context, string, configstream.Node) error { return nil }), obs)

	get := func(c *http.Client, host string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Version"), err
	}
	var (
		stop          atomic.Bool
		served, fails atomic.Int64
		firstErr      atomic.Value
		wg            sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
			for !stop.Load() {
				code, _, err := get(c, "hot.example.com")
				if err != nil || code != 200 {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("code %d, %v", code, err))
					continue
				}
				served.Add(1)
			}
		}()
	}

	const versions = 300
	var last *config.Config
	for i := 1; i <= versions; i++ {
		last = mk(i)
		if _, err := snaps.Set(key, last); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("version %d acknowledged", i), func() bool { return obs.isAcked(last.Version) })
	}
	stop.Store(true)
	wg.Wait()
	if n := fails.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during %d versions; first: %v", n, n+served.Load(), versions, firstErr.Load())
	}
	if served.Load() < versions {
		t.Fatalf("only %d requests served during %d versions", served.Load(), versions)
	}
	// Every version after the first went as a delta, and the proxy serves the last one
	// exactly: the hot route's header, the newest hosts, none of the removed ones.
	if w, d := obs.whole.Load(), obs.delta.Load(); w != 1 || d != versions {
		t.Fatalf("%d whole and %d delta pushes, want 1 and %d", w, d, versions)
	}
	c := &http.Client{}
	if code, v, err := get(c, "hot.example.com"); code != 200 || v != fmt.Sprint(versions) || err != nil {
		t.Fatalf("hot route after the last version: %d %q %v", code, v, err)
	}
	for _, tc := range []struct {
		host string
		code int
	}{{fmt.Sprintf("%d.example.com", versions), 200}, {fmt.Sprintf("%d.example.com", versions+49), 200}, {fmt.Sprintf("%d.example.com", versions-1), 404}, {"0.example.com", 404}} {
		if code, _, err := get(c, tc.host); code != tc.code || err != nil {
			t.Errorf("%s: %d %v, want %d", tc.host, code, err, tc.code)
		}
	}
	sp.stop(t)
}
