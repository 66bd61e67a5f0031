package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
	"github.com/agentgateway/agentgateway-go/hack/bench/cluster"
)

// routeLabel marks the routes the benchmark creates, so it deletes only those.
const routeLabel = "bench.agentgateway.dev/route"

// backends are the two echo Deployments (and Services) the flip test alternates between;
// routes point at the first.
var backends = [2]string{"echo-a", "echo-b"}

func routeName(i int) string { return "r-" + strconv.Itoa(i) }
func routeHost(i int) string { return strconv.Itoa(i) + ".example.com" }
func routePath(i int) string { return "/" + strconv.Itoa(i) }

// route is HTTPRoute i: hostname i.example.com, PathPrefix /i, a RequestHeaderModifier
// filter, and backend.
func route(ns, gateway string, i int, backend string) *gwv1.HTTPRoute {
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: routeName(i), Namespace: ns, Labels: map[string]string{routeLabel: "true"}},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(gateway)}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(routeHost(i))},
			Rules:           routeRules(i, backend),
		},
	}
}

func routeRules(i int, backend string) []gwv1.HTTPRouteRule {
	return []gwv1.HTTPRouteRule{{
		Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To(routePath(i))}}},
		Filters: []gwv1.HTTPRouteFilter{{
			Type: gwv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
				Set: []gwv1.HTTPHeader{{Name: "x-bench-route", Value: strconv.Itoa(i)}},
			},
		}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
			Name: gwv1.ObjectName(backend), Port: ptr.To(gwv1.PortNumber(8080)),
		}}}},
	}}
}

// environment creates (or reuses) the namespace, the echo backends and the Gateway.
func environment(ctx context.Context, c client.Client, ns, gateway, class string) error {
	if err := cluster.WaitNamespace(ctx, c, ns); err != nil {
		return err
	}
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for _, b := range backends {
		labels := map[string]string{"app": b}
		objs = append(objs,
			localcluster.EchoDeployment(ns, b, 1),
			&corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: b, Namespace: ns},
				Spec: corev1.ServiceSpec{
					Selector: labels,
					Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(3000)}},
				},
			})
	}
	objs = append(objs, cluster.Gateway(ns, gateway, class))
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// waitBackends waits until both echo Deployments have a ready replica.
func waitBackends(ctx context.Context, c client.Client, ns string) error {
	for _, b := range backends {
		for {
			d := &appsv1.Deployment{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: b}, d); err != nil {
				return fmt.Errorf("get deployment %s: %w", b, err)
			}
			if d.Status.ReadyReplicas >= 1 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("echo deployment %s/%s not ready: %w", ns, b, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}
