package deployer

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Applier writes rendered objects to the cluster.
type Applier struct {
	// Client writes (server-side apply, delete).
	Client client.Client
	// Reader reads current objects, normally the manager's cache (which must hold the
	// Deployments, Services, ServiceAccounts, ConfigMaps, PodDisruptionBudgets and
	// HorizontalPodAutoscalers labelled ManagedByLabel).
	Reader client.Reader
}

// optional are the kinds Render makes only for some parameters; Apply deletes a Gateway's
// object of such a kind when the rendering no longer has it.
func optional() []client.Object {
	return []client.Object{&policyv1.PodDisruptionBudget{}, &autoscalingv2.HorizontalPodAutoscaler{}}
}

// ReplicasFieldManager holds a Deployment's replica count while the operator stops applying
// it (an autoscaler took over), so the count stays instead of falling to the default of 1.
const ReplicasFieldManager = "agentgateway-replicas-handoff"

// Apply server-side applies every object of one Gateway's rendering whose HashAnnotation
// differs from the live object's, deletes the Gateway's objects of optional kinds (budget,
// autoscaler) that the rendering no longer has, and returns how many objects it wrote or
// deleted. Skipping unchanged objects keeps steady-state reconciles free of writes; the price
// is that a field we own edited by hand is restored only on the next real change.
func (a *Applier) Apply(ctx context.Context, objs []client.Object) (int, error) {
	written := 0
	var errs []error
	for _, obj := range objs {
		live := obj.DeepCopyObject().(client.Object)
		err := a.Reader.Get(ctx, client.ObjectKeyFromObject(obj), live)
		switch {
		case err == nil && live.GetAnnotations()[HashAnnotation] == obj.GetAnnotations()[HashAnnotation]:
			continue
		case err != nil && !apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("read %s %s/%s: %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err))
			continue
		}
		if dep, ok := obj.(*appsv1.Deployment); ok && dep.Spec.Replicas == nil && err == nil {
			if err := a.handOverReplicas(ctx, live.(*appsv1.Deployment)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("convert %s %s: %w", kindOf(obj), obj.GetName(), err))
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		// Status and server-populated metadata are not ours to apply.
		delete(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			errs = append(errs, fmt.Errorf("apply %s %s/%s: %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err))
			continue
		}
		written++
	}
	deleted, err := a.deleteDropped(ctx, objs)
	return written + deleted, errors.Join(append(errs, err)...)
}

// handOverReplicas makes ReplicasFieldManager co-own the live replica count before an apply
// leaves spec.replicas out. Server-side apply removes a field that its only manager stops
// applying, and the Deployment would fall back to 1 replica until the autoscaler scales it
// up again; with a second owner the field stays. The count comes from the Reader (normally
// the cache), so it can lag a very recent scale, which the autoscaler then repeats.
func (a *Applier) handOverReplicas(ctx context.Context, live *appsv1.Deployment) error {
	if live.Spec.Replicas == nil {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": live.Name, "namespace": live.Namespace},
		"spec":       map[string]any{"replicas": int64(*live.Spec.Replicas)},
	}}
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(ReplicasFieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("hand over replicas of Deployment %s/%s: %w", live.Namespace, live.Name, err)
	}
	return nil
}

// deleteDropped deletes the objects of optional kinds that share the name and namespace of
// the rendered Deployment but are not in objs.
func (a *Applier) deleteDropped(ctx context.Context, objs []client.Object) (int, error) {
	var key client.ObjectKey
	have := map[string]bool{}
	for _, o := range objs {
		if _, ok := o.(*appsv1.Deployment); ok {
			key = client.ObjectKeyFromObject(o)
		}
		have[fmt.Sprintf("%T", o)] = true
	}
	if key.Name == "" {
		return 0, nil
	}
	deleted := 0
	var errs []error
	for _, o := range optional() {
		if have[fmt.Sprintf("%T", o)] {
			continue
		}
		err := a.Reader.Get(ctx, key, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %T %s: %w", o, key, err))
			continue
		}
		// Never delete what someone else made under the same name.
		if o.GetLabels()[ManagedByLabel] != ManagedByValue {
			continue
		}
		if err := a.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete %T %s: %w", o, key, err))
			continue
		}
		deleted++
	}
	return deleted, errors.Join(errs...)
}

// Prune deletes the workloads this operator made for Gateways not in keep (Gateways that
// are gone are garbage-collected through owner references anyway; this catches Gateways
// that moved to another class).
func (a *Applier) Prune(ctx context.Context, keep map[types.NamespacedName]bool) (int, error) {
	deleted := 0
	var errs []error
	for _, list := range []client.ObjectList{
		&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}, &corev1.ConfigMapList{},
		&policyv1.PodDisruptionBudgetList{}, &autoscalingv2.HorizontalPodAutoscalerList{},
	} {
		if err := a.Reader.List(ctx, list, client.MatchingLabels{ManagedByLabel: ManagedByValue}); err != nil {
			errs = append(errs, fmt.Errorf("list proxy workloads: %w", err))
			continue
		}
		items, err := metaItems(list)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range items {
			gw := o.GetLabels()[GatewayNameLabel]
			if gw == "" || keep[types.NamespacedName{Namespace: o.GetNamespace(), Name: gw}] {
				continue
			}
			if err := a.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("delete %s/%s of gateway %s: %w", o.GetNamespace(), o.GetName(), gw, err))
				continue
			}
			deleted++
		}
	}
	return deleted, errors.Join(errs...)
}

// metaItems returns the items of list as objects.
func metaItems(list client.ObjectList) ([]client.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(client.Object)
		if !ok {
			return nil, fmt.Errorf("list item %T is not an object", it)
		}
		out = append(out, o)
	}
	return out, nil
}

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", obj)
}
