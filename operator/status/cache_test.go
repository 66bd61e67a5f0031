package status

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// cacheReader serves Gets the way controller-runtime's cache does: with
// UnsafeDisableDeepCopy, the caller's object is a shallow copy of the cached one, sharing
// its slices and maps.
type cacheReader struct {
	client.Reader // List is not used by the writer's update path
	objs          map[types.NamespacedName]client.Object
}

func (c *cacheReader) Get(_ context.Context, key client.ObjectKey, out client.Object, opts ...client.GetOption) error {
	o, ok := c.objs[key]
	if !ok || reflect.TypeOf(o) != reflect.TypeOf(out) {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	var getOpts client.GetOptions
	getOpts.ApplyOptions(opts)
	if getOpts.UnsafeDisableDeepCopy == nil || !*getOpts.UnsafeDisableDeepCopy {
		o = o.DeepCopyObject().(client.Object)
	}
	reflect.ValueOf(out).Elem().Set(reflect.ValueOf(o).Elem())
	return nil
}

// TestWriterLeavesCacheAlone: the writer reads cached objects without copying them, so a
// pass that changes many statuses (new conditions, our parent entries replaced or removed,
// others' kept) must leave every cached object exactly as it was.
func TestWriterLeavesCacheAlone(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	old := metav1.NewTime(metav1.Now().Add(-3600e9))
	theirs := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "theirs"}, ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", LastTransitionTime: old}}}
	mine := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "web"}, ControllerName: ours,
		Conditions: []metav1.Condition{{Type: "Accepted", Status: "False", Reason: "NotAllowedByListeners", LastTransitionTime: old}}}
	objs := map[types.NamespacedName]client.Object{}
	var initial []client.Object
	res := &translate.Result{}
	snap := &translate.Snapshot{}
	const n = 40
	for i := range n {
		r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "r" + strconv.Itoa(i), Namespace: "ns", Generation: 1, Labels: map[string]string{"a": "b"}}}
		// Our entry first, then theirs: a remove-in-place would shift theirs over ours.
		r.Status.Parents = []gwv1.RouteParentStatus{*mine.DeepCopy(), *theirs.DeepCopy()}
		objs[types.NamespacedName{Namespace: "ns", Name: r.Name}] = r
		initial = append(initial, r.DeepCopy())
		if i%2 == 0 { // still ours: accepted now
			res.Routes = append(res.Routes, translate.RouteResult{Key: translate.ObjectKey{Kind: "HTTPRoute", Namespace: "ns", Name: r.Name}, Generation: 1,
				Parents: []gwv1.RouteParentStatus{{ParentRef: gwv1.ParentReference{Name: "web"}, ControllerName: ours,
					Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1)}}}})
		} else { // moved away: our entry is stale
			snap.HTTPRoutes = append(snap.HTTPRoutes, *r.DeepCopy())
		}
	}
	gc := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "agw", Generation: 1}}
	gc.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: "Unknown", Reason: "Pending", LastTransitionTime: old}}
	objs[types.NamespacedName{Name: "agw"}] = gc
	initial = append(initial, gc.DeepCopy())
	res.GatewayClasses = []translate.GatewayClassResult{{Name: "agw", Generation: 1, Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1)}}}

	var writes atomic.Int64
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(initial...).
		WithStatusSubresource(&gwv1.GatewayClass{}, &gwv1.HTTPRoute{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes.Add(1)
			// The real apiserver answers with a new resourceVersion, decoded into obj.
			return c.SubResource(sub).Update(ctx, obj, opts...)
		}}).Build()
	// The fake client bumps resourceVersions; give the cache the same ones so updates apply.
	for k, o := range objs {
		live := o.DeepCopyObject().(client.Object)
		if err := c.Get(context.Background(), k, live); err != nil {
			t.Fatal(err)
		}
		o.SetResourceVersion(live.GetResourceVersion())
	}
	for i := range initial {
		initial[i] = objs[client.ObjectKeyFromObject(initial[i])].DeepCopyObject().(client.Object)
	}

	w := &Writer{Client: c, Reader: &cacheReader{objs: objs}, ControllerName: ours, Workers: 8,
		Programmed: func(types.NamespacedName, int64) (bool, string) { return true, "" }}
	ctx := context.Background()
	wrote, err := w.Write(ctx, res)
	if err != nil || wrote != n/2+1 {
		t.Fatalf("Write: wrote %d, err %v; want %d", wrote, err, n/2+1)
	}
	removed, err := w.RemoveStale(ctx, snap, res)
	if err != nil || removed != n/2 {
		t.Fatalf("RemoveStale: wrote %d, err %v; want %d", removed, err, n/2)
	}
	if int(writes.Load()) != wrote+removed {
		t.Fatalf("%d writes for %d changed objects", writes.Load(), wrote+removed)
	}
	for _, want := range initial {
		got := objs[client.ObjectKeyFromObject(want)]
		if !apiequality.Semantic.DeepEqual(got, want) {
			t.Errorf("cached %s changed:\n got %+v\nwant %+v", want.GetName(), got, want)
		}
	}
	// And the writes themselves are right: ours replaced or removed, theirs kept.
	for i := range n {
		var r gwv1.HTTPRoute
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "r" + strconv.Itoa(i)}, &r); err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%d %s", len(r.Status.Parents), r.Status.Parents[0].ControllerName)
		want := "1 example.com/other"
		if i%2 == 0 {
			want = "2 example.com/other"
			if c := r.Status.Parents[1].Conditions[0]; c.Status != "True" || c.LastTransitionTime.Equal(&old) {
				t.Errorf("route %d: our entry %+v, want Accepted=True with a new transition time", i, c)
			}
		}
		if got != want {
			t.Errorf("route %d parents: %s, want %s (%+v)", i, got, want, r.Status.Parents)
		}
	}
}

// TestWriteGateways writes Gateways only: routes are left for the next full pass.
func TestWriteGateways(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1}}
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 1}}
	var writes atomic.Int64
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(gw, route).
		WithStatusSubresource(&gwv1.Gateway{}, &gwv1.HTTPRoute{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if _, ok := obj.(*gwv1.Gateway); !ok {
				t.Errorf("WriteGateways wrote a %T", obj)
			}
			writes.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		}}).Build()
	w := &Writer{Client: c, Reader: c, ControllerName: ours,
		Programmed:  func(types.NamespacedName, int64) (bool, string) { return true, "" },
		ServiceName: func(gw string) string { return gw + "-agentgateway" }}
	res := &translate.Result{
		Gateways: []translate.GatewayResult{{Namespace: "ns", Name: "web", Generation: 1,
			Conditions: []metav1.Condition{cond("Programmed", "True", "Programmed", 1)}}},
		Routes: []translate.RouteResult{{Key: translate.ObjectKey{Kind: "HTTPRoute", Namespace: "ns", Name: "r"}, Generation: 1,
			Parents: []gwv1.RouteParentStatus{{ParentRef: gwv1.ParentReference{Name: "web"}, ControllerName: ours,
				Conditions: []metav1.Condition{cond("Accepted", "True", "Accepted", 1)}}}}},
	}
	if n, err := w.WriteGateways(context.Background(), res); err != nil || n != 1 || writes.Load() != 1 {
		t.Fatalf("WriteGateways: n=%d writes=%d err=%v", n, writes.Load(), err)
	}
}
