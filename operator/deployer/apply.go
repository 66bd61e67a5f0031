package deployer

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Applier writes rendered objects to the cluster.
type Applier struct {
	// Client writes (server-side apply, delete).
	Client client.Client
	// Reader reads current objects, normally the manager's cache (which must hold
	// Deployments, Services and ServiceAccounts labelled ManagedByLabel).
	Reader client.Reader
}

// Apply server-side applies every object whose HashAnnotation differs from the live
// object's, and returns how many it wrote. Skipping unchanged objects keeps steady-state
// reconciles free of writes; the price is that a field we own edited by hand is restored
// only on the next real change.
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
	return written, errors.Join(errs...)
}

// Prune deletes the workloads this operator made for Gateways not in keep (Gateways that
// are gone are garbage-collected through owner references anyway; this catches Gateways
// that moved to another class).
func (a *Applier) Prune(ctx context.Context, keep map[types.NamespacedName]bool) (int, error) {
	deleted := 0
	var errs []error
	for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}} {
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

func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceAccountList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("unexpected list type %T", list)
	}
	return out, nil
}

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", obj)
}
