package status

import (
	"context"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

const ours = "agentgateway.dev/agentgateway"

func cond(typ string, st metav1.ConditionStatus, reason string, gen int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, ObservedGeneration: gen}
}

func TestWriter(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 2}}
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 1}}
	other := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "theirs"}, ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", LastTransitionTime: metav1.Now()}}}
	route.Status.Parents = []gwv1.RouteParentStatus{other}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-agentgateway", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.7"}}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
	var writes atomic.Int64 // Write updates objects concurrently
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "agw", Generation: 1}}, gw, route, svc).
		WithStatusSubresource(&gwv1.GatewayClass{}, &gwv1.Gateway{}, &gwv1.HTTPRoute{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		}}).Build()

	acked := false
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &Writer{
		Client: c, Reader: c, ControllerName: ours,
		Programmed: func(types.NamespacedName, int64) (bool, string) {
			if acked {
				return true, ""
			}
			return false, "no proxy is connected yet"
		},
		ServiceName: func(gw string) string { return gw + "-agentgateway" },
		Now:         func() time.Time { return clock },
		Writes:      NewWritesCounter(),
	}
	res := &translate.Result{
		GatewayClasses: []translate.GatewayClassResult{{Name: "agw", Generation: 1, Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1)}}},
		Gateways: []translate.GatewayResult{{Namespace: "ns", Name: "web", Generation: 2,
			Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 2), cond("Programmed", "True", "Programmed", 2)},
			Listeners:  []gwv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{cond("Programmed", "True", "Programmed", 2)}}}}},
		Routes: []translate.RouteResult{{Key: translate.ObjectKey{Kind: "HTTPRoute", Namespace: "ns", Name: "r"}, Generation: 1,
			Parents: []gwv1.RouteParentStatus{{ParentRef: gwv1.ParentReference{Name: "web"}, ControllerName: ours,
				Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1)}}}}},
	}
	ctx := context.Background()
	n, err := w.Write(ctx, res)
	if err != nil || n != 3 || writes.Load() != 3 {
		t.Fatalf("first write: n=%d writes=%d err=%v", n, writes.Load(), err)
	}
	for _, kind := range []string{"GatewayClass", "Gateway", "HTTPRoute"} {
		if v := testutil.ToFloat64(w.Writes.WithLabelValues(kind, "ok")); v != 1 {
			t.Fatalf("agentgateway_status_writes_total{kind=%q,result=\"ok\"} = %v; want 1", kind, v)
		}
	}
	var got gwv1.Gateway
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "web"}, &got); err != nil {
		t.Fatal(err)
	}
	p := meta.FindStatusCondition(got.Status.Conditions, "Programmed")
	if p.Status != "False" || p.Reason != "Pending" || got.Status.Listeners[0].Conditions[0].Reason != "Pending" {
		t.Fatalf("not pending before ack: %+v", got.Status)
	}
	if len(got.Status.Addresses) != 1 || got.Status.Addresses[0].Value != "192.0.2.1" {
		t.Fatalf("addresses %+v", got.Status.Addresses)
	}
	accepted := meta.FindStatusCondition(got.Status.Conditions, "Accepted").LastTransitionTime

	// Nothing changed: nothing written, even as time passes.
	clock = clock.Add(time.Minute)
	if n, err := w.Write(ctx, res); err != nil || n != 0 || writes.Load() != 3 {
		t.Fatalf("unchanged write: n=%d writes=%d err=%v", n, writes.Load(), err)
	}

	// The proxy acks: only the Gateway is written; Accepted keeps its transition time.
	acked = true
	clock = clock.Add(time.Minute)
	if n, err := w.Write(ctx, res); err != nil || n != 1 {
		t.Fatalf("ack write: n=%d err=%v", n, err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "web"}, &got); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, "Programmed") {
		t.Fatalf("not programmed after ack: %+v", got.Status.Conditions)
	}
	if lt := meta.FindStatusCondition(got.Status.Conditions, "Accepted").LastTransitionTime; !lt.Equal(&accepted) {
		t.Fatalf("Accepted transition time moved from %v to %v", accepted, lt)
	}
	if lt := meta.FindStatusCondition(got.Status.Conditions, "Programmed").LastTransitionTime; !lt.Time.Equal(clock) {
		t.Fatalf("Programmed transition time %v, want %v", lt, clock)
	}

	var r gwv1.HTTPRoute
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "r"}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Status.Parents) != 2 || r.Status.Parents[0].ControllerName != "example.com/other" {
		t.Fatalf("other controller's parent status not kept: %+v", r.Status.Parents)
	}

	// The route leaves our Gateway: translation no longer lists it, so our entry goes.
	snap := &translate.Snapshot{HTTPRoutes: []gwv1.HTTPRoute{r}}
	if n, err := w.RemoveStale(ctx, snap, &translate.Result{}); err != nil || n != 1 {
		t.Fatalf("RemoveStale: n=%d err=%v", n, err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "r"}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Status.Parents) != 1 || r.Status.Parents[0].ControllerName != "example.com/other" {
		t.Fatalf("after RemoveStale: %+v", r.Status.Parents)
	}
	snap.HTTPRoutes[0] = r
	if n, err := w.RemoveStale(ctx, snap, &translate.Result{}); err != nil || n != 0 {
		t.Fatalf("RemoveStale again: n=%d err=%v", n, err)
	}
}

// TestWriterKeepsForeignConditions: conditions of a domain-prefixed type on a Gateway and its
// listeners belong to another controller and survive our writes unchanged, while a type of
// ours that translation no longer reports goes (upstream GatewayPreserveForeignConditions).
func TestWriterKeepsForeignConditions(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	seeded := metav1.Condition{Type: "example.com/Stale", Status: "True", Reason: "Seeded", ObservedGeneration: 1,
		LastTransitionTime: metav1.NewTime(time.Date(2025, 5, 5, 0, 0, 0, 0, time.UTC))}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 2}}
	gw.Status.Conditions = []metav1.Condition{cond("Conflicted", "True", "Old", 1), seeded}
	gw.Status.Listeners = []gwv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{seeded, cond("Programmed", "True", "Programmed", 1)}}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gw).WithStatusSubresource(&gwv1.Gateway{}).Build()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &Writer{
		Client: c, Reader: c, ControllerName: ours,
		Programmed:  func(types.NamespacedName, int64) (bool, string) { return true, "" },
		ServiceName: func(gw string) string { return gw + "-agentgateway" },
		Now:         func() time.Time { return clock },
	}
	res := &translate.Result{Gateways: []translate.GatewayResult{{Namespace: "ns", Name: "web", Generation: 2,
		Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 2)},
		Listeners:  []gwv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{cond("Programmed", "True", "Programmed", 2)}}}}}}
	ctx := context.Background()
	for i := range 2 { // the second write finds the status it wrote and changes nothing
		n, err := w.Write(ctx, res)
		if err != nil || n != 1-i {
			t.Fatalf("write %d: n=%d err=%v", i, n, err)
		}
		var got gwv1.Gateway
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "web"}, &got); err != nil {
			t.Fatal(err)
		}
		types := func(cs []metav1.Condition) (out []string) {
			for _, c := range cs {
				out = append(out, c.Type)
			}
			return out
		}
		if g, l := types(got.Status.Conditions), types(got.Status.Listeners[0].Conditions); !slices.Equal(g, []string{"Accepted", "example.com/Stale"}) ||
			!slices.Equal(l, []string{"Programmed", "example.com/Stale"}) {
			t.Fatalf("write %d: gateway conditions %v, listener conditions %v", i, g, l)
		}
		same := func(c metav1.Condition) bool {
			return c.LastTransitionTime.Equal(&seeded.LastTransitionTime) && c.Status == seeded.Status &&
				c.Reason == seeded.Reason && c.Message == seeded.Message && c.ObservedGeneration == seeded.ObservedGeneration
		}
		if f := meta.FindStatusCondition(got.Status.Conditions, seeded.Type); !same(*f) {
			t.Fatalf("write %d: foreign condition changed: %+v", i, *f)
		}
		if f := meta.FindStatusCondition(got.Status.Listeners[0].Conditions, seeded.Type); !same(*f) {
			t.Fatalf("write %d: foreign listener condition changed: %+v", i, *f)
		}
	}
}

// TestWriterStaticAddressNotUsable: a static address the load balancer did not assign keeps
// the Gateway Programmed=False/AddressNotUsable even after its proxies acknowledged; once the
// load balancer assigns it, Programmed=True and only that address is reported.
func TestWriterStaticAddressNotUsable(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1},
		Spec: gwv1.GatewaySpec{Addresses: []gwv1.GatewaySpecAddress{{Value: "192.0.2.50"}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-agentgateway", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.7", LoadBalancerIP: "192.0.2.50"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gw, svc).
		WithStatusSubresource(&gwv1.Gateway{}, &corev1.Service{}).Build()
	w := &Writer{
		Client: c, Reader: c, ControllerName: ours,
		Programmed:  func(types.NamespacedName, int64) (bool, string) { return true, "" },
		ServiceName: func(gw string) string { return gw + "-agentgateway" },
		Now:         time.Now,
	}
	res := &translate.Result{Gateways: []translate.GatewayResult{{Namespace: "ns", Name: "web", Generation: 1,
		Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1), cond("Programmed", "True", "Programmed", 1)}}}}
	ctx := context.Background()
	programmed := func() (*metav1.Condition, []gwv1.GatewayStatusAddress) {
		t.Helper()
		if _, err := w.Write(ctx, res); err != nil {
			t.Fatal(err)
		}
		var got gwv1.Gateway
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "web"}, &got); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(got.Status.Conditions, "Programmed"), got.Status.Addresses
	}
	if p, _ := programmed(); p.Status != "False" || p.Reason != "AddressNotUsable" || !strings.Contains(p.Message, "192.0.2.50") {
		t.Fatalf("unassigned static address: Programmed %+v", p)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.50"}}
	if err := c.Status().Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	p, addrs := programmed()
	if p.Status != "True" {
		t.Fatalf("assigned static address: Programmed %+v", p)
	}
	if len(addrs) != 1 || addrs[0].Value != "192.0.2.50" {
		t.Fatalf("addresses %+v", addrs)
	}
}

// TestWriterHoldsAttachedRoutes: a Gateway status write that would change only attachedRoutes
// waits until AttachedRoutesInterval after the previous one (TakeDue says when); any other
// change is written at once.
func TestWriterHoldsAttachedRoutes(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1}}
	var writes atomic.Int64
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gw).
		WithStatusSubresource(&gwv1.Gateway{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		}}).Build()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &Writer{
		Client: c, Reader: c, ControllerName: ours,
		Programmed:             func(types.NamespacedName, int64) (bool, string) { return true, "" },
		ServiceName:            func(gw string) string { return gw + "-agentgateway" },
		Now:                    func() time.Time { return clock },
		AttachedRoutesInterval: time.Second,
	}
	res := func(attached int32, programmed metav1.ConditionStatus) *translate.Result {
		return &translate.Result{Gateways: []translate.GatewayResult{{Namespace: "ns", Name: "web", Generation: 1,
			Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1), cond("Programmed", programmed, "Programmed", 1)},
			Listeners:  []gwv1.ListenerStatus{{Name: "http", AttachedRoutes: attached, Conditions: []metav1.Condition{cond("Programmed", "True", "Programmed", 1)}}}}}}
	}
	attached := func() int32 {
		var got gwv1.Gateway
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "web"}, &got); err != nil {
			t.Fatal(err)
		}
		return got.Status.Listeners[0].AttachedRoutes
	}
	ctx := context.Background()
	step := func(what string, r *translate.Result, wantWrites int64, wantAttached int32, wantDue time.Time) {
		t.Helper()
		if _, err := w.WriteGateways(ctx, r); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if writes.Load() != wantWrites || attached() != wantAttached {
			t.Fatalf("%s: %d writes, attachedRoutes %d; want %d, %d", what, writes.Load(), attached(), wantWrites, wantAttached)
		}
		if due := w.TakeDue(); !due.Equal(wantDue) {
			t.Fatalf("%s: due %v, want %v", what, due, wantDue)
		}
	}
	step("first status", res(1, "True"), 1, 1, time.Time{})
	clock = clock.Add(100 * time.Millisecond)
	step("attachedRoutes only, 100ms later", res(2, "True"), 1, 1, clock.Add(900*time.Millisecond))
	clock = clock.Add(100 * time.Millisecond)
	step("a condition too", res(3, "False"), 2, 3, time.Time{})
	clock = clock.Add(999 * time.Millisecond)
	step("attachedRoutes only, 999ms later", res(4, "False"), 2, 3, clock.Add(time.Millisecond))
	clock = clock.Add(time.Millisecond)
	step("attachedRoutes only, when due", res(4, "False"), 3, 4, time.Time{})

	w.AttachedRoutesInterval = -1
	clock = clock.Add(time.Millisecond)
	step("attachedRoutes only, holding off", res(5, "False"), 4, 5, time.Time{})
}

// probeReader serves one route from the fake client but lets the test change what the
// cache shows without changing its resourceVersion, to see whether a pass looked at it.
type probeReader struct {
	client.Client
	tamper func(*gwv1.HTTPRoute)
	// lagging, when set, is what the cache still shows of the route.
	lagging *gwv1.HTTPRoute
}

func (r probeReader) Get(ctx context.Context, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if hr, ok := obj.(*gwv1.HTTPRoute); ok && r.lagging != nil {
		r.lagging.DeepCopyInto(hr)
		return nil
	}
	if err := r.Client.Get(ctx, k, obj, opts...); err != nil {
		return err
	}
	if hr, ok := obj.(*gwv1.HTTPRoute); ok && r.tamper != nil {
		r.tamper(hr)
	}
	return nil
}

// routeWriter is a Writer over a fake client holding HTTPRoute ns/r, read through a
// probeReader, and a count of its status writes.
func routeWriter(t testing.TB) (client.Client, *probeReader, *Writer, *atomic.Int64) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	writes := &atomic.Int64{}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 1}}).
		WithStatusSubresource(&gwv1.HTTPRoute{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		}}).Build()
	reader := &probeReader{Client: c}
	return c, reader, &Writer{Client: c, Reader: reader, ControllerName: ours}, writes
}

// wantRoute is a result in which route ns/r is Accepted with reason on parent web.
func wantRoute(reason string) *translate.Result {
	return &translate.Result{Routes: []translate.RouteResult{{Key: translate.ObjectKey{Kind: "HTTPRoute", Namespace: "ns", Name: "r"}, Generation: 1,
		Parents: []gwv1.RouteParentStatus{{ParentRef: gwv1.ParentReference{Name: "web"}, ControllerName: ours,
			Conditions: []metav1.Condition{cond("Accepted", "True", reason, 1)}}}}}}
}

// TestWriterSkipsRoutesKnownUpToDate: a pass skips a route whose cached resourceVersion and
// wanted status are those it last found right; any change to either is compared and
// written as before.
func TestWriterSkipsRoutesKnownUpToDate(t *testing.T) {
	c, reader, w, writes := routeWriter(t)
	ctx := context.Background()
	pass := func(res *translate.Result) int64 {
		t.Helper()
		before := writes.Load()
		if _, err := w.Write(ctx, res); err != nil {
			t.Fatal(err)
		}
		return writes.Load() - before
	}
	if n := pass(wantRoute("Accepted")); n != 1 {
		t.Fatalf("first pass wrote %d", n)
	}
	// The cache would now show a different status under the same resourceVersion (which
	// a real cache never does): a pass that compared would write it, one that skips does not.
	reader.tamper = func(r *gwv1.HTTPRoute) { r.Status.Parents = nil }
	if n := pass(wantRoute("Accepted")); n != 0 {
		t.Fatalf("a route known up to date was compared and written (%d writes)", n)
	}
	// A different wanted status is compared and written.
	reader.tamper = nil
	if n := pass(wantRoute("Other")); n != 1 {
		t.Fatalf("changed wanted status: %d writes", n)
	}
	if n := pass(wantRoute("Other")); n != 0 {
		t.Fatalf("unchanged after the write: %d writes", n)
	}
	// Someone else rewrites the status (a new resourceVersion): compared and written back.
	var r gwv1.HTTPRoute
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "r"}, &r); err != nil {
		t.Fatal(err)
	}
	r.Status.Parents = nil
	if err := c.Status().Update(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if n := pass(wantRoute("Other")); n != 1 {
		t.Fatalf("status cleared by someone else: %d writes", n)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "r"}, &r); err != nil || len(r.Status.Parents) != 1 || r.Status.Parents[0].Conditions[0].Reason != "Other" {
		t.Fatalf("status after the rewrite: %+v %v", r.Status.Parents, err)
	}
	// A route that left the result is forgotten: when it comes back it is compared again.
	pass(&translate.Result{})
	reader.tamper = func(r *gwv1.HTTPRoute) { r.Status.Parents = nil }
	if n := pass(wantRoute("Other")); n != 1 {
		t.Fatalf("a route back in the result was skipped (%d writes)", n)
	}
}

// TestWriterTrustsItsOwnWrite: until the cache shows our status write, it shows the route
// at the resourceVersion the write replaced. A pass then must not write the same status
// again over it (that is a conflict, and a retried pass); a change by someone else is a
// new resourceVersion and is still compared.
func TestWriterTrustsItsOwnWrite(t *testing.T) {
	c, reader, w, writes := routeWriter(t)
	ctx := context.Background()
	var before gwv1.HTTPRoute
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "r"}, &before); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write(ctx, wantRoute("Accepted")); n != 1 || err != nil {
		t.Fatalf("first pass: %d writes, %v", n, err)
	}
	// The cache has not seen the write: the same status is not written again.
	reader.lagging = &before
	for range 2 {
		if n, err := w.Write(ctx, wantRoute("Accepted")); n != 0 || err != nil {
			t.Fatalf("pass over a lagging cache: %d writes, %v", n, err)
		}
	}
	// A different wanted status is written (against the stale version: a conflict that the
	// caller retries once the cache has caught up).
	if _, err := w.Write(ctx, wantRoute("Other")); !apierrors.IsConflict(err) {
		t.Fatalf("a changed status over a lagging cache: %v, want a conflict", err)
	}
	// The cache catches up: nothing to write for the first status.
	reader.lagging = nil
	if n, err := w.Write(ctx, wantRoute("Accepted")); n != 0 || err != nil {
		t.Fatalf("after the cache caught up: %d writes, %v", n, err)
	}
	if writes.Load() != 2 {
		t.Fatalf("%d status writes, want 2 (the first, and the conflicting one)", writes.Load())
	}
}

// TestSameParentsCoversEveryField: sameParents compares every field of the types it walks
// (a field added upstream must be added there), and agrees with reflect.DeepEqual on a
// change to each of them.
func TestSameParentsCoversEveryField(t *testing.T) {
	fields := func(v any) []string {
		var out []string
		ty := reflect.TypeOf(v)
		for i := range ty.NumField() {
			out = append(out, ty.Field(i).Name)
		}
		return out
	}
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{gwv1.RouteParentStatus{}, []string{"ParentRef", "ControllerName", "Conditions"}},
		{gwv1.ParentReference{}, []string{"Group", "Kind", "Namespace", "Name", "SectionName", "Port"}},
		{metav1.Condition{}, []string{"Type", "Status", "ObservedGeneration", "LastTransitionTime", "Reason", "Message"}},
	} {
		if got := fields(tc.v); !slices.Equal(got, tc.want) {
			t.Errorf("%T has fields %v; sameParents compares %v", tc.v, got, tc.want)
		}
	}
	base := func() []gwv1.RouteParentStatus {
		return []gwv1.RouteParentStatus{{
			ParentRef: gwv1.ParentReference{Group: ptr.To[gwv1.Group]("g"), Kind: ptr.To[gwv1.Kind]("Gateway"), Namespace: ptr.To[gwv1.Namespace]("ns"),
				Name: "web", SectionName: ptr.To[gwv1.SectionName]("http"), Port: ptr.To[gwv1.PortNumber](80)},
			ControllerName: ours,
			Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", ObservedGeneration: 2, Reason: "Accepted", Message: "ok",
				LastTransitionTime: metav1.Unix(1700000000, 0)}},
		}}
	}
	if !sameParents(base(), base()) {
		t.Fatal("equal statuses differ")
	}
	for name, change := range map[string]func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus{
		"group": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].ParentRef.Group = nil; return p },
		"kind":  func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { *p[0].ParentRef.Kind = "X"; return p },
		"namespace": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
			*p[0].ParentRef.Namespace = "other"
			return p
		},
		"name":       func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].ParentRef.Name = "x"; return p },
		"section":    func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].ParentRef.SectionName = nil; return p },
		"port":       func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { *p[0].ParentRef.Port = 81; return p },
		"controller": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].ControllerName = "x/y"; return p },
		"type":       func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].Conditions[0].Type = "T"; return p },
		"status": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
			p[0].Conditions[0].Status = "False"
			return p
		},
		"generation": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
			p[0].Conditions[0].ObservedGeneration = 3
			return p
		},
		"time": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
			p[0].Conditions[0].LastTransitionTime = metav1.Unix(1, 0)
			return p
		},
		"reason":       func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].Conditions[0].Reason = "R"; return p },
		"message":      func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].Conditions[0].Message = "m"; return p },
		"no condition": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { p[0].Conditions = nil; return p },
		"empty conditions": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
			p[0].Conditions = []metav1.Condition{}
			return p
		},
		"another parent": func(p []gwv1.RouteParentStatus) []gwv1.RouteParentStatus { return append(p, p[0]) },
		"no parents":     func([]gwv1.RouteParentStatus) []gwv1.RouteParentStatus { return nil },
		"empty parents":  func([]gwv1.RouteParentStatus) []gwv1.RouteParentStatus { return []gwv1.RouteParentStatus{} },
	} {
		changed := change(base())
		if sameParents(base(), changed) || sameParents(changed, base()) {
			t.Errorf("%s: a changed status compares equal", name)
		}
		if reflect.DeepEqual(base(), changed) {
			t.Errorf("%s: not a change for reflect.DeepEqual either", name)
		}
	}
	if !sameParents(nil, nil) || sameParents(nil, []gwv1.RouteParentStatus{}) {
		t.Error("nil and empty: want DeepEqual's answers")
	}
}
