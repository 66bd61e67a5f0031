package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
	"github.com/agentgateway/agentgateway-go/hack/bench/cluster"
)

const (
	echoName     = "echo"
	echoReplicas = 3
	routeName    = "rollout"
	routeHost    = "rollout.example.com"
)

// services both select the echo pods; route changes alternate between them.
var services = [2]string{"echo", "echo-alt"}

// bench holds what the phases share.
type bench struct {
	o options
	c client.Client
}

// routeRules send every path to svc and set changeHeader to change.
func routeRules(svc string, change int) []gwv1.HTTPRouteRule {
	return []gwv1.HTTPRouteRule{{
		Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/")}}},
		Filters: []gwv1.HTTPRouteFilter{{
			Type: gwv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
				Set: []gwv1.HTTPHeader{{Name: changeHeader, Value: strconv.Itoa(change)}},
			},
		}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
			Name: gwv1.ObjectName(svc), Port: ptr.To(gwv1.PortNumber(8080)),
		}}}},
	}}
}

// environment creates the namespace and the benchmark's objects. A namespace left from an
// interrupted run is waited out while terminating; objects that exist are reset to change 0.
func (b *bench) environment(ctx context.Context) error {
	ns := b.o.namespace
	if err := cluster.WaitNamespace(ctx, b.c, ns); err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		localcluster.EchoDeployment(ns, echoName, echoReplicas),
	}
	for _, s := range services {
		objs = append(objs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": echoName},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(3000)}},
			},
		})
	}
	objs = append(objs,
		cluster.Gateway(ns, b.o.gateway, b.o.class),
		&gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: routeName, Namespace: ns},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(b.o.gateway)}}},
				Hostnames:       []gwv1.Hostname{routeHost},
				Rules:           routeRules(services[0], 0),
			},
		})
	for _, o := range objs {
		if err := b.c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return b.setRoute(ctx, services[0], 0)
}

// setRoute points the route at svc with changeHeader set to change (a merge patch of its
// rules).
func (b *bench) setRoute(ctx context.Context, svc string, change int) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"rules": routeRules(svc, change)}})
	if err != nil {
		return err
	}
	obj := &gwv1.HTTPRoute{}
	obj.Namespace, obj.Name = b.o.namespace, routeName
	if err := b.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patch route to %s, change %d: %w", svc, change, err)
	}
	return nil
}

// waitServed waits until the Gateway is Programmed with an address, the echo Deployment
// is fully ready, and the route answers 200 from change 0; it returns the listener's
// host:port.
func (b *bench) waitServed(ctx context.Context) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, b.o.stepTimeout)
	defer cancel()
	addr := ""
	for addr == "" {
		gw := &gwv1.Gateway{}
		if err := b.c.Get(wctx, types.NamespacedName{Namespace: b.o.namespace, Name: b.o.gateway}, gw); err != nil {
			return "", fmt.Errorf("gateway %s/%s not Programmed with an address: %w", b.o.namespace, b.o.gateway, err)
		}
		if meta.IsStatusConditionTrue(gw.Status.Conditions, string(gwv1.GatewayConditionProgrammed)) && len(gw.Status.Addresses) > 0 {
			addr = net.JoinHostPort(gw.Status.Addresses[0].Value, "80")
			break
		}
		if err := pause(wctx, 250*time.Millisecond); err != nil {
			return "", fmt.Errorf("gateway %s/%s not Programmed with an address: %w", b.o.namespace, b.o.gateway, err)
		}
	}
	logf("gateway %s/%s programmed at %s", b.o.namespace, b.o.gateway, addr)
	if err := b.waitDeployment(wctx, echoName, nil); err != nil {
		return "", err
	}
	tr := newTraffic(addr, routeHost, 1, 0)
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	for {
		a := tr.get(wctx, hc)
		if a.code == http.StatusOK && a.change == 0 && a.pod != "" {
			return addr, nil
		}
		if err := pause(wctx, 250*time.Millisecond); err != nil {
			return "", fmt.Errorf("route %s never answered 200 through %s (last: code %d, %v): %w", routeHost, addr, a.code, a.err, err)
		}
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
