package status

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// routeKinds maps a route kind to a new object and its RouteStatus.
var routeKinds = map[string]func() (client.Object, *gwv1.RouteStatus, func(client.Object) any){
	"HTTPRoute": func() (client.Object, *gwv1.RouteStatus, func(client.Object) any) {
		o := &gwv1.HTTPRoute{}
		return o, &o.Status.RouteStatus, func(o client.Object) any { return &o.(*gwv1.HTTPRoute).Status }
	},
	"GRPCRoute": func() (client.Object, *gwv1.RouteStatus, func(client.Object) any) {
		o := &gwv1.GRPCRoute{}
		return o, &o.Status.RouteStatus, func(o client.Object) any { return &o.(*gwv1.GRPCRoute).Status }
	},
	"TLSRoute": func() (client.Object, *gwv1.RouteStatus, func(client.Object) any) {
		o := &gwv1.TLSRoute{}
		return o, &o.Status.RouteStatus, func(o client.Object) any { return &o.(*gwv1.TLSRoute).Status }
	},
	"TCPRoute": func() (client.Object, *gwv1.RouteStatus, func(client.Object) any) {
		o := &gwv1.TCPRoute{}
		return o, &o.Status.RouteStatus, func(o client.Object) any { return &o.(*gwv1.TCPRoute).Status }
	},
	"UDPRoute": func() (client.Object, *gwv1.RouteStatus, func(client.Object) any) {
		o := &gwv1.UDPRoute{}
		return o, &o.Status.RouteStatus, func(o client.Object) any { return &o.(*gwv1.UDPRoute).Status }
	},
}

// sameParents is reflect.DeepEqual(a, b) for route parent statuses, written out: a status
// pass compares every route's wanted status with the one it last wrote, and reflection was
// most of that pass. It treats two condition times as equal when they are the same instant
// (translation sets none). TestSameParentsCoversEveryField fails when the API types gain a
// field this does not compare.
func sameParents(a, b []gwv1.RouteParentStatus) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.ControllerName != y.ControllerName || !sameParentRef(&x.ParentRef, &y.ParentRef) ||
			len(x.Conditions) != len(y.Conditions) || (x.Conditions == nil) != (y.Conditions == nil) {
			return false
		}
		for j := range x.Conditions {
			c, d := &x.Conditions[j], &y.Conditions[j]
			if c.Type != d.Type || c.Status != d.Status || c.ObservedGeneration != d.ObservedGeneration ||
				c.Reason != d.Reason || c.Message != d.Message || !c.LastTransitionTime.Equal(&d.LastTransitionTime) {
				return false
			}
		}
	}
	return true
}

func sameParentRef(a, b *gwv1.ParentReference) bool {
	return a.Name == b.Name && samePtr(a.Group, b.Group) && samePtr(a.Kind, b.Kind) &&
		samePtr(a.Namespace, b.Namespace) && samePtr(a.SectionName, b.SectionName) && samePtr(a.Port, b.Port)
}

// samePtr says whether a and b are both nil or point to equal values.
func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (w *Writer) route(ctx context.Context, r *translate.RouteResult, now metav1.Time) (bool, error) {
	mk, ok := routeKinds[r.Key.Kind]
	if !ok {
		return false, fmt.Errorf("status: unknown route kind %q", r.Key.Kind)
	}
	obj, st, status := mk()
	k := translate.ObjectKey{Kind: r.Key.Kind, Namespace: r.Key.Namespace, Name: r.Key.Name}
	var hooks updateHooks
	if w.nextUpToDate != nil { // a Write pass
		hooks.skip = func(cached client.Object) bool {
			seen, ok := w.upToDate[k]
			rv := cached.GetResourceVersion()
			if !ok || (rv != seen.resourceVersion && (seen.writtenOver == "" || rv != seen.writtenOver)) ||
				seen.generation != r.Generation || !sameParents(seen.parents, r.Parents) {
				return false
			}
			w.upToDateMu.Lock()
			w.nextUpToDate[k] = seen
			w.upToDateMu.Unlock()
			return true
		}
		hooks.upToDate = func(rv, over string) {
			w.upToDateMu.Lock()
			w.nextUpToDate[k] = routeSeen{resourceVersion: rv, writtenOver: over, generation: r.Generation, parents: r.Parents}
			w.upToDateMu.Unlock()
		}
	}
	return w.updateWith(ctx, types.NamespacedName{Namespace: r.Key.Namespace, Name: r.Key.Name}, obj, status, func() {
		st.Parents = mergeOurs(st.Parents, r.Parents, now,
			func(p gwv1.RouteParentStatus) bool { return p.ControllerName == w.ControllerName },
			func(a, b gwv1.RouteParentStatus) bool {
				return apiequality.Semantic.DeepEqual(a.ParentRef, b.ParentRef)
			},
			func(p *gwv1.RouteParentStatus) *[]metav1.Condition { return &p.Conditions })
	}, hooks)
}

func (w *Writer) policy(ctx context.Context, r *translate.PolicyResult, now metav1.Time) (bool, error) {
	var obj client.Object
	var st *gwv1.PolicyStatus
	var ancestors *[]gwv1.PolicyAncestorStatus
	switch r.Key.Kind {
	case "AgentgatewayPolicy":
		o := &agwv1a1.AgentgatewayPolicy{}
		obj, st = o, &o.Status
	case "BackendTLSPolicy":
		o := &gwv1.BackendTLSPolicy{}
		obj, st = o, &o.Status
	case "XBackendTrafficPolicy":
		o := &gwxv1a1.XBackendTrafficPolicy{}
		obj, st = o, &o.Status
	case "XTelemetryPolicy":
		// Its status is a TelemetryPolicyStatus: the same ancestors list.
		o := &gwxv1a1.XTelemetryPolicy{}
		obj, ancestors = o, &o.Status.Ancestors
	default:
		return false, fmt.Errorf("status: unknown policy kind %q", r.Key.Kind)
	}
	status := func(o client.Object) any {
		switch p := o.(type) {
		case *agwv1a1.AgentgatewayPolicy:
			return &p.Status
		case *gwxv1a1.XBackendTrafficPolicy:
			return &p.Status
		case *gwxv1a1.XTelemetryPolicy:
			return &p.Status
		}
		return &o.(*gwv1.BackendTLSPolicy).Status
	}
	if ancestors == nil {
		ancestors = &st.Ancestors
	}
	return w.update(ctx, types.NamespacedName{Namespace: r.Key.Namespace, Name: r.Key.Name}, obj, status, func() {
		*ancestors = mergeOurs(*ancestors, r.Ancestors, now,
			func(a gwv1.PolicyAncestorStatus) bool { return a.ControllerName == w.ControllerName },
			func(a, b gwv1.PolicyAncestorStatus) bool {
				return apiequality.Semantic.DeepEqual(a.AncestorRef, b.AncestorRef)
			},
			func(a *gwv1.PolicyAncestorStatus) *[]metav1.Condition { return &a.Conditions })
	})
}

// mergeOurs replaces our controller's entries of a shared status list (route parents,
// policy ancestors) with desired, keeps other controllers' entries untouched, and carries
// each condition's LastTransitionTime over from our previous entry for the same reference.
func mergeOurs[E any](existing, desired []E, now metav1.Time, ours func(E) bool, sameRef func(a, b E) bool, conds func(*E) *[]metav1.Condition) []E {
	var out []E
	for _, e := range existing {
		if !ours(e) {
			out = append(out, e)
		}
	}
	for _, d := range desired {
		var old []metav1.Condition
		for i := range existing {
			if ours(existing[i]) && sameRef(existing[i], d) {
				old = *conds(&existing[i])
			}
		}
		*conds(&d) = mergeConditions(old, *conds(&d), now)
		out = append(out, d)
	}
	return out
}
