package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/provider"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

// TestRouteScale is the operator half of the route-lifecycle benchmark (make
// bench-control-plane), against a real kube-apiserver with a configstream client standing
// in for the proxy: it times route i from Create to the first config that contains it,
// then all routes created at once until the Gateway reports them attached and Accepted,
// and logs where the operator's reconcile time went (agentgateway_reconcile_step_seconds).
// It runs only with AGW_ROUTE_SCALE=<routes> (and AGW_ROUTE_SCALE_FLIPS=<n> backend flips of
// route 1 after the adds); go test -cpuprofile profiles the operator.
func TestRouteScale(t *testing.T) {
	scale := os.Getenv("AGW_ROUTE_SCALE")
	if scale == "" {
		t.Skip("set AGW_ROUTE_SCALE=<routes> to run the route scale benchmark")
	}
	n, err := strconv.Atoi(scale)
	if err != nil || n <= 0 {
		t.Fatalf("AGW_ROUTE_SCALE=%q: want a positive number of routes", scale)
	}
	root := envtest.RepoRoot()
	env := envtest.Start(t, filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "gateway-api"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xdsAddr := startOperator(t, ctx, cancel, env)
	c := newClient(t, env)

	const ns = "bench"
	createWebGateway(t, ctx, c, ns)
	for i, svc := range []string{"echo", "echo2"} { // echo2: the other side of the flips
		must(t, c.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
		}))
		must(t, c.Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0." + strconv.Itoa(5+i)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](3000), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}))
	}

	fp := newFakeProxy()
	pc := &configstream.Client{
		Address: xdsAddr,
		CAFile:  proxyCAFile(t, ctx, c, ns),
		Node:    configstream.Node{Pod: "web-abc", Namespace: ns, Gateway: "web", BuildVersion: "test"},
		Token:   func() (string, error) { return "token-for-web", nil },
	}
	ran := make(chan error, 1)
	go func() { ran <- pc.Run(ctx, fp.apply) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("proxy client: %v", err)
		}
	}()
	waitFor(t, "Gateway Programmed", func() (bool, string) {
		gw := getGateway(t, ctx, c, ns)
		return meta.IsStatusConditionTrue(gw.Status.Conditions, "Programmed"), condString(gw.Status.Conditions)
	})

	route := func(i int) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: "r-" + strconv.Itoa(i), Namespace: ns, Labels: map[string]string{"bench": "true"}},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
				Hostnames:       []gwv1.Hostname{gwv1.Hostname(strconv.Itoa(i) + ".example.com")},
				Rules: []gwv1.HTTPRouteRule{{
					Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/" + strconv.Itoa(i))}}},
					Filters: []gwv1.HTTPRouteFilter{{
						Type:                  gwv1.HTTPRouteFilterRequestHeaderModifier,
						RequestHeaderModifier: &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: "x-bench-route", Value: strconv.Itoa(i)}}},
					}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "echo", Port: ptr.To[gwv1.PortNumber](80)}}}},
				}},
			},
		}
	}

	// One at a time: Create -> the proxy holds a config with the route.
	m0 := gatherCounters(t)
	var lat, creates []time.Duration
	for i := 1; i <= n; i++ {
		name := "r-" + strconv.Itoa(i)
		t0 := time.Now()
		must(t, c.Create(ctx, route(i)))
		creates = append(creates, time.Since(t0))
		at, ok := fp.waitRoute(name, t0.Add(30*time.Second))
		if !ok {
			t.Fatalf("route %s never reached the proxy", name)
		}
		lat = append(lat, at.Sub(t0))
	}
	m1 := gatherCounters(t)
	t.Logf("propagation to the proxy's config, %d routes one at a time: %s (the Create call alone: %s)", n, durations(lat), durations(creates))
	t.Logf("  per route: %s", perChange(m0, m1, n))

	// Flips: route 1 moves between two Services; each flip waits for the proxy's config.
	flips := 0
	if v := os.Getenv("AGW_ROUTE_SCALE_FLIPS"); v != "" {
		if flips, err = strconv.Atoi(v); err != nil {
			t.Fatalf("AGW_ROUTE_SCALE_FLIPS=%q: %v", v, err)
		}
	}
	var flipLat []time.Duration
	for k := 1; k <= flips; k++ {
		svc := []string{"echo", "echo2"}[k%2]
		r := route(1)
		r.Spec.Rules[0].BackendRefs[0].Name = gwv1.ObjectName(svc)
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"rules": r.Spec.Rules}})
		must(t, err)
		t0 := time.Now()
		must(t, c.Patch(ctx, route(1), client.RawPatch(types.MergePatchType, patch)))
		at, ok := fp.waitBackend("r-1", "/"+svc+":", t0.Add(30*time.Second))
		if !ok {
			t.Fatalf("flip %d to %s never reached the proxy", k, svc)
		}
		flipLat = append(flipLat, at.Sub(t0))
	}
	if flips > 0 {
		m := gatherCounters(t)
		t.Logf("flips of route 1 between two Services, %d: %s", flips, durations(flipLat))
		t.Logf("  per flip: %s", perChange(m1, m, flips))
	}

	attached := func() int32 {
		gw := getGateway(t, ctx, c, ns)
		var a int32
		for _, l := range gw.Status.Listeners {
			a += l.AttachedRoutes
		}
		return a
	}
	t0 := time.Now()
	must(t, c.DeleteAllOf(ctx, &gwv1.HTTPRoute{}, client.InNamespace(ns), client.MatchingLabels{"bench": "true"}))
	deleted := time.Since(t0)
	pollUntil(t, 60*time.Second, func() bool { return fp.routes() == 0 })
	unpublished := time.Since(t0)
	pollUntil(t, 60*time.Second, func() bool { return attached() == 0 })
	t.Logf("teardown: %.2fs until 0 attached (the delete call took %.2fs, the proxy had no route after %.2fs)", time.Since(t0).Seconds(), deleted.Seconds(), unpublished.Seconds())

	m2 := gatherCounters(t)
	t0 = time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := c.Create(ctx, route(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := 1; i <= n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	created := time.Since(t0)
	pollUntil(t, 120*time.Second, func() bool { return attached() == int32(n) })
	pollUntil(t, 120*time.Second, func() bool {
		var l gwv1.HTTPRouteList
		must(t, c.List(ctx, &l, client.InNamespace(ns)))
		for _, r := range l.Items {
			ok := false
			for _, p := range r.Status.Parents {
				ok = ok || (p.ControllerName == provider.ControllerName && meta.IsStatusConditionTrue(p.Conditions, "Accepted"))
			}
			if !ok {
				return false
			}
		}
		return len(l.Items) == n
	})
	setup := time.Since(t0)
	// The step ends when the proxy has answered every config pushed to it and no reconcile
	// is queued or running, so the counters below include the trailing pushes and acks.
	waitFor(t, "the proxy to answer every push and the reconciles to stop", func() (bool, string) {
		m := gatherCounters(t)
		pushes, answered := m["agentgateway_xds_pushes_total"], m["agentgateway_xds_acks_total"]+m["agentgateway_xds_nacks_total"]
		queued, running := gaugeSum(t, m, "workqueue_depth/agentgateway"), gaugeSum(t, m, "controller_runtime_active_workers/agentgateway")
		return pushes == answered && queued == 0 && running == 0,
			fmt.Sprintf("pushes %v, acks and nacks %v, reconciles queued %v, running %v", pushes, answered, queued, running)
	})
	m3 := gatherCounters(t)
	t.Logf("setup: %d creates in %.2fs; all attached and Accepted after %.2fs", n, created.Seconds(), setup.Seconds())
	t.Logf("  whole step: %s", perChange(m2, m3, 1))
}

// fakeProxy records when each route first appeared in a config it received.
type fakeProxy struct {
	mu      sync.Mutex
	changed chan struct{}
	seen    map[string]time.Time
	current map[string]bool
	backend map[string]string // route -> backend of its first rule's first backendRef
}

func newFakeProxy() *fakeProxy {
	return &fakeProxy{changed: make(chan struct{}), seen: map[string]time.Time{}, current: map[string]bool{}, backend: map[string]string{}}
}

func (f *fakeProxy) apply(c *config.Config) error {
	now := time.Now()
	cur := map[string]bool{}
	backend := map[string]string{}
	for _, b := range c.Binds {
		for _, l := range b.Listeners {
			for _, r := range l.HTTPRoutes {
				cur[r.Name] = true
				if len(r.Rules) > 0 && len(r.Rules[0].BackendRefs) > 0 {
					backend[r.Name] = r.Rules[0].BackendRefs[0].Backend
				}
			}
		}
	}
	f.mu.Lock()
	f.backend = backend
	for name := range cur {
		if _, ok := f.seen[name]; !ok {
			f.seen[name] = now
		}
	}
	for name := range f.seen {
		if !cur[name] {
			delete(f.seen, name)
		}
	}
	f.current = cur
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	return nil
}

func (f *fakeProxy) routes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.current)
}

func (f *fakeProxy) waitRoute(name string, deadline time.Time) (time.Time, bool) {
	for {
		f.mu.Lock()
		at, ok := f.seen[name]
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return time.Time{}, false
		}
	}
}

// waitBackend waits until route's first backend contains svc, and returns when the config
// that did it arrived.
func (f *fakeProxy) waitBackend(route, svc string, deadline time.Time) (time.Time, bool) {
	for {
		f.mu.Lock()
		ok := strings.Contains(f.backend[route], svc)
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return time.Now(), true
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return time.Time{}, false
		}
	}
}

func pollUntil(t *testing.T, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func durations(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p int) time.Duration { return s[max(0, (p*len(s)+99)/100-1)] }
	return fmt.Sprintf("p50=%s p99=%s max=%s", at(50).Round(100*time.Microsecond), at(99).Round(100*time.Microsecond), s[len(s)-1].Round(100*time.Microsecond))
}

// gatherCounters reads the operator's counters, gauges and histogram sums from the process-wide
// registry, keyed by name and label values.
func gatherCounters(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key+"/sum"] = m.GetHistogram().GetSampleSum()
				out[key+"/count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// gaugeSum adds up the values in m whose key is prefix or starts with prefix+"/" (a gauge
// split by further labels, such as the workqueue depth by priority). A gauge missing from m
// fails the test: its zero would read as "idle".
func gaugeSum(t *testing.T, m map[string]float64, prefix string) float64 {
	t.Helper()
	sum, found := 0.0, false
	for k, v := range m {
		if k == prefix || strings.HasPrefix(k, prefix+"/") {
			sum, found = sum+v, true
		}
	}
	if !found {
		t.Fatalf("metric %s not registered", prefix)
	}
	return sum
}

// perChange formats what the operator did between two samples, divided by n.
func perChange(a, b map[string]float64, n int) string {
	d := func(k string) float64 { return (b[k] - a[k]) / float64(n) }
	s := fmt.Sprintf("%.2f reconciles, %.1f ms reconciling", d("agentgateway_reconciles_total/success")+d("agentgateway_reconciles_total/conflict"), 1000*d("agentgateway_reconcile_seconds/sum"))
	for _, step := range []string{"snapshot", "translate", "views", "publish", "deploy", "status", "status-programmed"} {
		s += fmt.Sprintf(", %s %.1f ms", step, 1000*d("agentgateway_reconcile_step_seconds/"+step+"/sum"))
	}
	return s + fmt.Sprintf(", %.2f status writes, %.2f pushes", d("agentgateway_status_writes_total"), d("agentgateway_xds_pushes_total"))
}
