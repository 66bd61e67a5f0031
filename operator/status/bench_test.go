package status

import (
	"context"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// routeReader serves HTTPRoutes from a map without copying, as the manager's cache does
// for a Get with UnsafeDisableDeepCopy.
type routeReader struct {
	client.Reader
	routes map[client.ObjectKey]*gwv1.HTTPRoute
}

func (r routeReader) Get(_ context.Context, k client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	*obj.(*gwv1.HTTPRoute) = *r.routes[k]
	return nil
}

// BenchmarkWriteUnchanged prices a status pass over 1000 routes whose status is already
// right: the pass the status loop makes after every change of any one of them.
func BenchmarkWriteUnchanged(b *testing.B) {
	const n = 1000
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		b.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&gwv1.HTTPRoute{}).Build()
	res := &translate.Result{}
	for i := range n {
		name := "r-" + strconv.Itoa(i)
		r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 1}}
		if err := c.Create(context.Background(), r); err != nil {
			b.Fatal(err)
		}
		res.Routes = append(res.Routes, translate.RouteResult{
			Key:        translate.ObjectKey{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: "ns", Name: name},
			Generation: 1,
			Parents: []gwv1.RouteParentStatus{{
				ParentRef:      gwv1.ParentReference{Name: "bench"},
				ControllerName: ours,
				Conditions: []metav1.Condition{
					cond("Accepted", metav1.ConditionTrue, "Accepted", 1),
					cond("ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs", 1),
				},
			}},
		})
	}
	w := &Writer{Client: c, Reader: c, ControllerName: ours}
	if written, err := w.Write(context.Background(), res); err != nil || written != n {
		b.Fatalf("first pass: %d written, %v", written, err)
	}
	rr := routeReader{routes: map[client.ObjectKey]*gwv1.HTTPRoute{}}
	for i := range n {
		r := &gwv1.HTTPRoute{}
		k := client.ObjectKey{Namespace: "ns", Name: "r-" + strconv.Itoa(i)}
		if err := c.Get(context.Background(), k, r); err != nil {
			b.Fatal(err)
		}
		rr.routes[k] = r
	}
	w.Reader = rr
	// Every translation builds its statuses anew: passes alternate between two equal
	// results that share no memory.
	again := &translate.Result{Routes: make([]translate.RouteResult, len(res.Routes))}
	for i, r := range res.Routes {
		r.Parents = make([]gwv1.RouteParentStatus, len(res.Routes[i].Parents))
		for j := range r.Parents {
			res.Routes[i].Parents[j].DeepCopyInto(&r.Parents[j])
		}
		again.Routes[i] = r
	}
	results := [2]*translate.Result{res, again}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if written, err := w.Write(context.Background(), results[i%2]); err != nil || written != 0 {
			b.Fatalf("%d written, %v", written, err)
		}
		i++
	}
}
