package status

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// xbackend writes an XBackend's status.ancestors: our entries become r's (keeping each
// condition's lastTransitionTime while it holds), other controllers' stay. Nothing is
// written when that changes nothing.
func (w *Writer) xbackend(ctx context.Context, r *translate.XBackendResult, now metav1.Time) (bool, error) {
	xb := &gwxv1a1.XBackend{}
	return w.update(ctx, types.NamespacedName{Namespace: r.Namespace, Name: r.Name}, xb, func(o client.Object) any { return &o.(*gwxv1a1.XBackend).Status }, func() {
		xb.Status.Ancestors = mergeOurs(xb.Status.Ancestors, r.Ancestors, now,
			func(a gwxv1a1.BackendAncestorStatus) bool { return a.ControllerName == w.ControllerName },
			func(a, b gwxv1a1.BackendAncestorStatus) bool {
				return apiequality.Semantic.DeepEqual(a.AncestorRef, b.AncestorRef)
			},
			func(a *gwxv1a1.BackendAncestorStatus) *[]metav1.Condition { return &a.Conditions })
	})
}

// staleXBackends are the jobs that drop our ancestors from the XBackends res no longer
// reports (no route on our Gateways names them any more).
func (w *Writer) staleXBackends(ctx context.Context, snap *translate.Snapshot, res *translate.Result) []func() (bool, error) {
	current := map[types.NamespacedName]bool{}
	for _, x := range res.XBackends {
		current[types.NamespacedName{Namespace: x.Namespace, Name: x.Name}] = true
	}
	var jobs []func() (bool, error)
	for i := range snap.XBackends {
		x := &snap.XBackends[i]
		k := types.NamespacedName{Namespace: x.Namespace, Name: x.Name}
		if current[k] {
			continue
		}
		for _, a := range x.Status.Ancestors {
			if a.ControllerName == w.ControllerName {
				// An empty result removes every ancestor of ours and keeps the others.
				jobs = append(jobs, func() (bool, error) {
					return w.xbackend(ctx, &translate.XBackendResult{Namespace: k.Namespace, Name: k.Name}, w.now())
				})
				break
			}
		}
	}
	return jobs
}
