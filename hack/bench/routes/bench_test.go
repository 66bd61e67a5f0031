package main

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond)
	}
	d := summarize(ds)
	if d.p50 != 50*time.Millisecond || d.p99 != 99*time.Millisecond || d.max != 100*time.Millisecond || d.n != 100 {
		t.Fatalf("got %+v", d)
	}
	if got := summarize([]time.Duration{7}); got.p50 != 7 || got.p99 != 7 {
		t.Fatalf("one sample: %+v", got)
	}
	if got := summarize(nil); got.n != 0 || got.String() != "no samples" {
		t.Fatalf("no samples: %+v", got)
	}
}

func TestParseStatus(t *testing.T) {
	m, err := parseStatus(strings.NewReader("Name:\tproxy\nVmHWM:\t   30000 kB\nVmRSS:\t   20000 kB\n"))
	if err != nil || m.rss != 20000<<10 || m.hwm != 30000<<10 {
		t.Fatalf("got %+v, %v", m, err)
	}
	if _, err := parseStatus(strings.NewReader("Name:\tzombie\n")); err == nil {
		t.Fatal("want an error without VmRSS")
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP agentgateway_reconciles_total Full reconciles by result.
agentgateway_reconciles_total{result="success"} 10
agentgateway_reconciles_total{result="conflict"} 2
agentgateway_reconcile_seconds_sum 1.5
agentgateway_reconcile_seconds_count 12
agentgateway_reconcile_step_seconds_sum{step="translate"} 0.5
agentgateway_reconcile_step_seconds_sum{step="status"} 0.25
other_total 3
`
	m, err := parseMetrics(strings.NewReader(in), []string{"agentgateway_reconciles_total", "agentgateway_reconcile_seconds_sum", "agentgateway_reconcile_step_seconds_sum"})
	if err != nil {
		t.Fatal(err)
	}
	if m["agentgateway_reconciles_total"] != 12 || m["agentgateway_reconcile_seconds_sum"] != 1.5 ||
		m[`agentgateway_reconciles_total{result="conflict"}`] != 2 || m["agentgateway_reconcile_step_seconds_sum"] != 0.75 ||
		m[`agentgateway_reconcile_step_seconds_sum{step="translate"}`] != 0.5 || len(m) != 7 {
		t.Fatalf("got %v", m)
	}
	if got := perRoute(m, 1); !strings.Contains(got, "ms per step: status 250.0 translate 500.0") {
		t.Fatalf("perRoute: %s", got)
	}
	m["agentgateway_xds_pushes_total"], m[leaderPushes] = 8, 2
	if got := perRoute(m, 1); !strings.Contains(got, "8.0 config pushes") || !strings.Contains(got, "25 % of the pushes by the leader") {
		t.Fatalf("perRoute with pushes: %s", got)
	}
}

func TestRouteShape(t *testing.T) {
	r := route("ns", "gw", 42, "echo-b")
	if r.Spec.Hostnames[0] != "42.example.com" || *r.Spec.Rules[0].Matches[0].Path.Value != "/42" ||
		r.Spec.Rules[0].Filters[0].Type != gwv1.HTTPRouteFilterRequestHeaderModifier ||
		r.Spec.Rules[0].BackendRefs[0].Name != "echo-b" || r.Labels[routeLabel] != "true" {
		t.Fatalf("unexpected route %+v", r)
	}
	if pathOfHost(routeHost(42)) != routePath(42) {
		t.Fatal("pathOfHost does not invert routeHost")
	}
	if backendOf("echo-b-7d9f-xk2") != "echo-b" || backendOf("") == "echo-a" {
		t.Fatal("backendOf")
	}
}

func TestRouteAccepted(t *testing.T) {
	r := route("ns", "gw", 1, "echo-a")
	r.Generation = 2
	parent := func(ctrl string, gen int64, status metav1.ConditionStatus) gwv1.RouteParentStatus {
		return gwv1.RouteParentStatus{
			ParentRef:      gwv1.ParentReference{Name: "gw"},
			ControllerName: gwv1.GatewayController(ctrl),
			Conditions:     []metav1.Condition{{Type: "Accepted", Status: status, ObservedGeneration: gen}},
		}
	}
	for _, tc := range []struct {
		p    gwv1.RouteParentStatus
		want bool
	}{
		{parent(controllerName, 2, metav1.ConditionTrue), true},
		{parent(controllerName, 1, metav1.ConditionTrue), false}, // stale generation
		{parent(controllerName, 2, metav1.ConditionFalse), false},
		{parent("example.com/other", 2, metav1.ConditionTrue), false},
	} {
		r.Status.Parents = []gwv1.RouteParentStatus{tc.p}
		if got := routeAccepted(r, "gw"); got != tc.want {
			t.Errorf("%+v: got %v want %v", tc.p, got, tc.want)
		}
	}
}

func TestStatusWriteAndCounts(t *testing.T) {
	if !statusWrite(3, 3, "10", "11") || statusWrite(3, 4, "10", "11") || statusWrite(3, 3, "10", "10") {
		t.Fatal("statusWrite")
	}
	var s trackerState
	s.routes = map[string]bool{}
	s.setRoute("a", false, false)
	s.setRoute("a", true, false)
	s.setRoute("a", true, false)
	s.setRoute("b", true, false)
	if s.nAccepted != 2 {
		t.Fatalf("nAccepted %d", s.nAccepted)
	}
	s.setRoute("a", false, true)
	if s.nAccepted != 1 || len(s.routes) != 1 {
		t.Fatalf("after delete: %d %v", s.nAccepted, s.routes)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses; utime 1234 and stime 56 ticks.
	line := "4242 (kube (api) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 12 0 100 0 0"
	d, err := parseStat(line)
	if err != nil || d != 12900*time.Millisecond {
		t.Fatalf("parseStat = %v, %v; want 12.9s", d, err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 a b"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted a malformed line", bad)
		}
	}
	own, err := cpuOf(os.Getpid())
	if err != nil || own <= 0 {
		t.Fatalf("cpuOf(self) = %v, %v", own, err)
	}
}

func TestCPUUse(t *testing.T) {
	before := cpuSample{"etcd": time.Second, "kube-apiserver": 2 * time.Second, "gone": time.Second}
	after := cpuSample{"etcd": 2 * time.Second, "kube-apiserver": 5 * time.Second, "new": time.Second}
	got := cpuUse(before, after, 4*time.Second)
	want := fmt.Sprintf("kube-apiserver 3.0s, etcd 1.0s (together %.0f%% of %d cores × 4.0s)", 100*4.0/(4.0*float64(goruntime.NumCPU())), goruntime.NumCPU())
	if got != want {
		t.Fatalf("cpuUse = %q, want %q", got, want)
	}
}
