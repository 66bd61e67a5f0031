package status

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

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

func (w *Writer) route(ctx context.Context, r *translate.RouteResult, now metav1.Time) (bool, error) {
	mk, ok := routeKinds[r.Key.Kind]
	if !ok {
		return false, fmt.Errorf("status: unknown route kind %q", r.Key.Kind)
	}
	obj, st, status := mk()
	return w.update(ctx, types.NamespacedName{Namespace: r.Key.Namespace, Name: r.Key.Name}, obj, status, func() {
		var out []gwv1.RouteParentStatus
		for _, p := range st.Parents {
			if p.ControllerName != w.ControllerName {
				out = append(out, p)
			}
		}
		for _, p := range r.Parents {
			var old []metav1.Condition
			for _, q := range st.Parents {
				if q.ControllerName == w.ControllerName && apiequality.Semantic.DeepEqual(q.ParentRef, p.ParentRef) {
					old = q.Conditions
				}
			}
			p.Conditions = mergeConditions(old, p.Conditions, now)
			out = append(out, p)
		}
		st.Parents = out
	})
}

func (w *Writer) policy(ctx context.Context, r *translate.PolicyResult, now metav1.Time) (bool, error) {
	var obj client.Object
	var st *gwv1.PolicyStatus
	switch r.Key.Kind {
	case "AgentgatewayPolicy":
		o := &agwv1a1.AgentgatewayPolicy{}
		obj, st = o, &o.Status
	case "BackendTLSPolicy":
		o := &gwv1.BackendTLSPolicy{}
		obj, st = o, &o.Status
	default:
		return false, fmt.Errorf("status: unknown policy kind %q", r.Key.Kind)
	}
	status := func(o client.Object) any {
		if p, ok := o.(*agwv1a1.AgentgatewayPolicy); ok {
			return &p.Status
		}
		return &o.(*gwv1.BackendTLSPolicy).Status
	}
	return w.update(ctx, types.NamespacedName{Namespace: r.Key.Namespace, Name: r.Key.Name}, obj, status, func() {
		var out []gwv1.PolicyAncestorStatus
		for _, a := range st.Ancestors {
			if a.ControllerName != w.ControllerName {
				out = append(out, a)
			}
		}
		for _, a := range r.Ancestors {
			var old []metav1.Condition
			for _, q := range st.Ancestors {
				if q.ControllerName == w.ControllerName && apiequality.Semantic.DeepEqual(q.AncestorRef, a.AncestorRef) {
					old = q.Conditions
				}
			}
			a.Conditions = mergeConditions(old, a.Conditions, now)
			out = append(out, a)
		}
		st.Ancestors = out
	})
}
