package upstream

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func backendOf(t *testing.T, c config.Backend) *Backend {
	t.Helper()
	set, err := NewPool().Prepare([]config.Backend{c})
	if err != nil {
		t.Fatal(err)
	}
	return set[c.Name]
}

func TestPickPrefersLessLoaded(t *testing.T) {
	b := backendOf(t, config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:2"}}})
	busy, idle := b.endpoints[0], b.endpoints[1]
	busy.inflight.Store(100)
	// With two endpoints, P2C always compares both, so the idle one wins.
	for i := 0; i < 100; i++ {
		if got := b.Pick(""); got != idle {
			t.Fatalf("picked the busy endpoint")
		}
	}
	if got := b.Pick(busy.Address); got != busy {
		t.Fatal("preferred endpoint (session) not honoured")
	}
	// An ejected endpoint is avoided even when it is less loaded.
	b.eject(idle)
	if got := b.Pick(""); got != busy {
		t.Fatal("picked the ejected endpoint")
	}
	if got := b.Pick(idle.Address); got == idle {
		t.Fatal("session preference overrode ejection")
	}
}

func TestWeightedRandom(t *testing.T) {
	b := backendOf(t, config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1", Weight: 9}, {Address: "127.0.0.1:2", Weight: 1}}})
	counts := map[string]int{}
	const n = 10000
	for i := 0; i < n; i++ {
		counts[b.random().Address]++
	}
	if share := float64(counts["127.0.0.1:1"]) / n; share < 0.87 || share > 0.93 {
		t.Fatalf("weight 9 of 10 got %.3f", share)
	}
}

func TestPoolReusesUnchangedBackends(t *testing.T) {
	p := NewPool()
	a := config.Backend{Name: "a", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}}}
	b := config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: "127.0.0.1:2"}}}
	s1, err := p.Prepare([]config.Backend{a, b})
	if err != nil {
		t.Fatal(err)
	}
	p.Commit(s1)
	b.Endpoints = append(b.Endpoints, config.Endpoint{Address: "127.0.0.1:3"})
	s2, err := p.Prepare([]config.Backend{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if s2["a"] != s1["a"] {
		t.Error("unchanged backend was rebuilt (its connection pool would be lost)")
	}
	if s2["b"] == s1["b"] {
		t.Error("changed backend was reused")
	}
}

func TestRoundTripTracksInFlightAndEjects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	b := backendOf(t, config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: srv.Listener.Addr().String()}}})
	req, err := http.NewRequest("GET", "http://placeholder/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b.endpoints[0].InFlight() != 1 {
		t.Fatalf("in flight before body close: %d", b.endpoints[0].InFlight())
	}
	resp.Body.Close()
	if b.endpoints[0].InFlight() != 0 {
		t.Fatalf("in flight after body close: %d", b.endpoints[0].InFlight())
	}
	d := backendOf(t, config.Backend{Name: "d", Endpoints: []config.Endpoint{{Address: deadAddr}}})
	req, err = http.NewRequest("GET", "http://placeholder/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RoundTrip(req); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	if !d.endpoints[0].ejected(nowNano()) || d.endpoints[0].InFlight() != 0 {
		t.Fatal("refusing endpoint not ejected, or in-flight leaked")
	}
}

func nowNano() int64 { return timeNow().UnixNano() }

func TestPassiveEjectionAndBudget(t *testing.T) {
	b := backendOf(t, config.Backend{Name: "b", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:2"}, {Address: "127.0.0.1:3"}}})
	e0, e1 := b.endpoints[0], b.endpoints[1]
	for i := 0; i < config.DefaultGatewayErrors-1; i++ {
		b.observe(e0, 503)
	}
	b.observe(e0, 200) // a success resets the streak
	for i := 0; i < config.DefaultGatewayErrors-1; i++ {
		b.observe(e0, 502)
	}
	if e0.ejected(nowNano()) {
		t.Fatal("ejected before the streak was complete")
	}
	b.observe(e0, 504)
	if !e0.ejected(nowNano()) {
		t.Fatal("not ejected after consecutive gateway errors")
	}
	// A second ejection would take 2 of 3 endpoints out (> 50%): refused.
	for i := 0; i < config.DefaultGatewayErrors; i++ {
		b.observe(e1, 503)
	}
	if e1.ejected(nowNano()) {
		t.Fatal("ejection exceeded the 50% cap")
	}
	// Budget: with nothing in flight, minRetryConcurrency retries.
	for i := 0; i < minRetryConcurrency; i++ {
		if !b.StartRetry() {
			t.Fatalf("retry %d refused", i)
		}
	}
	if b.StartRetry() {
		t.Fatal("retry budget not enforced")
	}
	b.EndRetry()
	if !b.StartRetry() {
		t.Fatal("returned retry not reusable")
	}
}
