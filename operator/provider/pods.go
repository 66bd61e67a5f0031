package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// Pods are watched only for XBackends of type EndpointSelector, whose endpoints are the
// ready, not terminating Pods their selector matches. The cache keeps a stripped copy of
// every Pod (stripPod) and only Pod events that can change such an endpoint set start a
// reconcile (podMatters, podSelected).

// stripPod is the cache transform for Pods: it keeps only what endpoint selection reads
// (identity, labels, the deletion mark, the Pod IPs and the Ready condition), so a cached
// Pod costs a few hundred bytes instead of its whole spec and status.
func stripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a DeletedFinalStateUnknown tombstone: keep as it is
	}
	out := &corev1.Pod{}
	out.Name, out.Namespace, out.UID = p.Name, p.Namespace, p.UID
	out.ResourceVersion, out.Generation = p.ResourceVersion, p.Generation
	out.Labels = p.Labels
	out.DeletionTimestamp = p.DeletionTimestamp
	out.Status.PodIPs = p.Status.PodIPs
	if len(p.Status.PodIPs) == 0 && p.Status.PodIP != "" {
		out.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
			break
		}
	}
	return out, nil
}

// podMatters passes Pod creations and deletions, and updates that change what endpoint
// selection reads: labels, IPs, readiness or the deletion mark.
var podMatters = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*corev1.Pod)
	n, ok2 := e.ObjectNew.(*corev1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return !maps.Equal(o.Labels, n.Labels) ||
		!o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
		!slices.Equal(o.Status.PodIPs, n.Status.PodIPs) ||
		translate.PodReady(o) != translate.PodReady(n)
}}

// podSelected says whether any EndpointSelector XBackend in pod's namespace selects it: only
// then can the Pod change a proxy's endpoints. An update calls it for the old and the new
// Pod, so a Pod that leaves a selector is seen too.
func (p *Provider) podSelected(ctx context.Context, pod client.Object) bool {
	var l gwxv1a1.XBackendList
	if err := p.reader.List(ctx, &l, client.InNamespace(pod.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		p.log.Warn("list XBackends for a Pod event; reconciling", "pod", pod.GetNamespace()+"/"+pod.GetName(), "error", err)
		return true
	}
	for i := range l.Items {
		if translate.XBackendSelects(&l.Items[i], pod.GetLabels()) {
			return true
		}
	}
	return false
}

// fillPods lists into s.Pods the Pods that the EndpointSelector XBackends of s select (by
// labels only; translation checks readiness), each once.
func fillPods(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
	seen := map[client.ObjectKey]bool{}
	for i := range s.XBackends {
		xb := &s.XBackends[i]
		sel := translate.XBackendSelector(xb)
		if sel == nil {
			continue
		}
		var l corev1.PodList
		if err := r.List(ctx, &l, client.InNamespace(xb.Namespace), client.MatchingLabels(sel), client.UnsafeDisableDeepCopy); err != nil {
			return fmt.Errorf("list Pods of XBackend %s/%s: %w", xb.Namespace, xb.Name, err)
		}
		for _, pod := range l.Items {
			k := client.ObjectKeyFromObject(&pod)
			if !seen[k] {
				seen[k] = true
				s.Pods = append(s.Pods, pod)
			}
		}
	}
	return nil
}
