package status

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// RemoveStale drops our entries from routes, policies and XBackends that translation no
// longer reports (a parentRef moved to another controller's Gateway, or our Gateway was
// deleted): Result lists only objects that are still ours, so without this their old
// status would stay forever. It returns how many objects it wrote.
func (w *Writer) RemoveStale(ctx context.Context, snap *translate.Snapshot, res *translate.Result) (int, error) {
	// Keyed without the group: kinds are unique among routes and policies, and this keeps
	// the match independent of how translation spells the core group.
	current := map[translate.ObjectKey]bool{}
	for _, r := range res.Routes {
		current[translate.ObjectKey{Kind: r.Key.Kind, Namespace: r.Key.Namespace, Name: r.Key.Name}] = true
	}
	for _, p := range res.Policies {
		current[translate.ObjectKey{Kind: p.Key.Kind, Namespace: p.Key.Namespace, Name: p.Key.Name}] = true
	}
	type stale struct {
		key   translate.ObjectKey
		route *gwv1.RouteStatus
	}
	var found []stale
	addRoute := func(kind, ns, name string, st *gwv1.RouteStatus) {
		k := translate.ObjectKey{Group: gwv1.GroupName, Kind: kind, Namespace: ns, Name: name}
		if current[translate.ObjectKey{Kind: kind, Namespace: ns, Name: name}] {
			return
		}
		for _, p := range st.Parents {
			if p.ControllerName == w.ControllerName {
				found = append(found, stale{key: k, route: st})
				return
			}
		}
	}
	for i := range snap.HTTPRoutes {
		r := &snap.HTTPRoutes[i]
		addRoute("HTTPRoute", r.Namespace, r.Name, &r.Status.RouteStatus)
	}
	for i := range snap.GRPCRoutes {
		r := &snap.GRPCRoutes[i]
		addRoute("GRPCRoute", r.Namespace, r.Name, &r.Status.RouteStatus)
	}
	for i := range snap.TLSRoutes {
		r := &snap.TLSRoutes[i]
		addRoute("TLSRoute", r.Namespace, r.Name, &r.Status.RouteStatus)
	}
	for i := range snap.TCPRoutes {
		r := &snap.TCPRoutes[i]
		addRoute("TCPRoute", r.Namespace, r.Name, &r.Status.RouteStatus)
	}
	for i := range snap.UDPRoutes {
		r := &snap.UDPRoutes[i]
		addRoute("UDPRoute", r.Namespace, r.Name, &r.Status.RouteStatus)
	}
	jobs := make([]func() (bool, error), 0, len(found)+len(snap.Policies)+len(snap.BackendTLSPolicies))
	for _, s := range found {
		if s.route == nil {
			continue
		}
		jobs = append(jobs, func() (bool, error) {
			mk := routeKinds[s.key.Kind]
			obj, st, status := mk()
			return w.update(ctx, types.NamespacedName{Namespace: s.key.Namespace, Name: s.key.Name}, obj, status, func() {
				var kept []gwv1.RouteParentStatus // new: st.Parents is the cache's
				for _, p := range st.Parents {
					if p.ControllerName != w.ControllerName {
						kept = append(kept, p)
					}
				}
				st.Parents = kept
			})
		})
	}
	// Policy ancestors: the same for AgentgatewayPolicies and BackendTLSPolicies.
	for i := range snap.Policies {
		p := &snap.Policies[i]
		jobs = append(jobs, func() (bool, error) {
			return w.dropAncestors(ctx, current, "AgentgatewayPolicy", "agentgateway.dev", p, &p.Status)
		})
	}
	for i := range snap.BackendTLSPolicies {
		p := &snap.BackendTLSPolicies[i]
		jobs = append(jobs, func() (bool, error) {
			return w.dropAncestors(ctx, current, "BackendTLSPolicy", gwv1.GroupName, p, &p.Status)
		})
	}
	for i := range snap.XBackendTrafficPolicies {
		p := &snap.XBackendTrafficPolicies[i]
		jobs = append(jobs, func() (bool, error) {
			return w.dropAncestors(ctx, current, "XBackendTrafficPolicy", gwxv1a1.GroupName, p, &p.Status)
		})
	}
	jobs = append(jobs, w.staleXBackends(ctx, snap, res)...)
	for i := range snap.XTelemetryPolicies {
		p := &snap.XTelemetryPolicies[i]
		jobs = append(jobs, func() (bool, error) {
			return w.dropAncestors(ctx, current, "XTelemetryPolicy", gwxv1a1.GroupName, p, &gwv1.PolicyStatus{Ancestors: p.Status.Ancestors})
		})
	}
	return w.run(jobs)
}

func (w *Writer) dropAncestors(ctx context.Context, current map[translate.ObjectKey]bool, kind, group string, obj client.Object, cached *gwv1.PolicyStatus) (bool, error) {
	k := translate.ObjectKey{Group: group, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if current[translate.ObjectKey{Kind: kind, Namespace: k.Namespace, Name: k.Name}] {
		return false, nil
	}
	ours := false
	for _, a := range cached.Ancestors {
		ours = ours || a.ControllerName == w.ControllerName
	}
	if !ours {
		return false, nil
	}
	// An empty result entry removes every ancestor of ours and keeps the others.
	return w.policy(ctx, &translate.PolicyResult{Key: k}, w.now())
}
