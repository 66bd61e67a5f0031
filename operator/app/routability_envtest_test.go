package app

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/operator/provider"
)

// TestOperatorAddressRoutability runs the operator against a real kube-apiserver with
// Gateways asking for address routabilities (GEP-5093): the proxy Service is ClusterIP when a
// Gateway asks only for Cluster addresses and LoadBalancer otherwise; status.addresses carries
// each address's routability (the cluster IP as Cluster, a load balancer's address as empty);
// AddressesAssigned says which requests are satisfied, and a Gateway none of whose requests
// can be satisfied is Programmed=False/AddressNotAssigned. A routability change moves the
// Service between ClusterIP and LoadBalancer. There is no load balancer controller: the test
// writes the Service's load balancer status as one would.
func TestOperatorAddressRoutability(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.Start(t, filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "gateway-api"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startOperator(t, ctx, cancel, env)
	c := newClient(t, env)
	const ns = "routability"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "agentgateway"},
		Spec:       gwv1.GatewayClassSpec{ControllerName: provider.ControllerName},
	}))
	waitFor(t, "GatewayClass claims both routability features", func() (bool, string) {
		var gc gwv1.GatewayClass
		if err := c.Get(ctx, types.NamespacedName{Name: "agentgateway"}, &gc); err != nil {
			return false, err.Error()
		}
		var have []string
		for _, f := range gc.Status.SupportedFeatures {
			if strings.HasPrefix(string(f.Name), "GatewayAddressRoutability") {
				have = append(have, string(f.Name))
			}
		}
		return len(have) == 2, fmt.Sprintf("claimed %v", have)
	})

	addr := func(r gwv1.GatewayAddressRoutabilityType) gwv1.GatewaySpecAddress {
		return gwv1.GatewaySpecAddress{Type: ptr.To(gwv1.IPAddressType), Routability: r}
	}
	newGateway := func(name string, addrs ...gwv1.GatewaySpecAddress) *gwv1.Gateway {
		return &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: gwv1.GatewaySpec{
				GatewayClassName: "agentgateway",
				Addresses:        addrs,
				Listeners:        []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}},
			},
		}
	}

	// The API server rejects values that are neither empty, Cluster nor domain-prefixed, and
	// the reserved k8s.io domain.
	for _, bad := range []gwv1.GatewayAddressRoutabilityType{"Internal", "k8s.io/Cluster", "example.k8s.io/x"} {
		if err := c.Create(ctx, newGateway("bad", addr(bad))); err == nil || !strings.Contains(err.Error(), "Routability must be") {
			t.Errorf("routability %q: create returned %v, want the CRD's validation error", bad, err)
		}
	}

	for _, gw := range []*gwv1.Gateway{
		newGateway("internal", addr(gwv1.GatewayAddressRoutabilityCluster)),
		newGateway("edge", addr(""), addr(gwv1.GatewayAddressRoutabilityCluster)),
		newGateway("plain"),
		newGateway("vendor", addr("example.com/CorpWan")),
		newGateway("sentinel", addr(deployer.RoutabilitySentinel)),
	} {
		must(t, c.Create(ctx, gw))
	}

	service := func(gw string) *corev1.Service {
		t.Helper()
		var svc corev1.Service
		waitFor(t, "proxy Service of "+gw, func() (bool, string) {
			err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: deployer.ProxyName(gw)}, &svc)
			return err == nil && svc.Spec.ClusterIP != "", errString(err)
		})
		return &svc
	}
	serviceType := func(gw string, want corev1.ServiceType) *corev1.Service {
		t.Helper()
		var svc *corev1.Service
		waitFor(t, fmt.Sprintf("proxy Service of %s of type %s", gw, want), func() (bool, string) {
			svc = service(gw)
			return svc.Spec.Type == want, string(svc.Spec.Type)
		})
		return svc
	}
	// status waits until the Gateway reports exactly addrs ("value routability", any order)
	// and AddressesAssigned with reason, then returns the Gateway.
	status := func(name, reason string, addrs ...string) *gwv1.Gateway {
		t.Helper()
		var gw gwv1.Gateway
		sort.Strings(addrs)
		want := strings.Join(addrs, "; ")
		waitFor(t, fmt.Sprintf("Gateway %s addresses [%s], AddressesAssigned %s", name, want, reason), func() (bool, string) {
			must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &gw))
			var got []string
			for _, a := range gw.Status.Addresses {
				if a.Routability == nil {
					return false, fmt.Sprintf("address %s without routability", a.Value)
				}
				got = append(got, a.Value+" "+string(*a.Routability))
			}
			sort.Strings(got)
			cond := meta.FindStatusCondition(gw.Status.Conditions, "AddressesAssigned")
			ok := strings.Join(got, "; ") == want && cond != nil && cond.Reason == reason &&
				(cond.Status == metav1.ConditionTrue) == (reason == "AddressesAssigned") && cond.ObservedGeneration == gw.Generation
			return ok, fmt.Sprintf("addresses %q; %s", got, condString(gw.Status.Conditions))
		})
		return &gw
	}

	// Cluster only: a ClusterIP Service, its cluster IP reported as Cluster.
	svc := serviceType("internal", corev1.ServiceTypeClusterIP)
	status("internal", "AddressesAssigned", svc.Spec.ClusterIP+" Cluster")

	// No spec.addresses: a LoadBalancer Service as before; until the load balancer assigns an
	// address the cluster IP is reported (as Cluster), then the load balancer's (as empty).
	plain := serviceType("plain", corev1.ServiceTypeLoadBalancer)
	status("plain", "AddressesAssigned", plain.Spec.ClusterIP+" Cluster")
	plain.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.20"}}
	must(t, c.Status().Update(ctx, plain))
	status("plain", "AddressesAssigned", "203.0.113.20 ")

	// Empty and Cluster: a LoadBalancer Service serves both; the empty request waits for the
	// load balancer (PartiallyAssigned, naming it) and never takes the cluster IP the Cluster
	// request holds.
	edge := serviceType("edge", corev1.ServiceTypeLoadBalancer)
	gw := status("edge", "PartiallyAssigned", edge.Spec.ClusterIP+" Cluster")
	if cond := meta.FindStatusCondition(gw.Status.Conditions, "AddressesAssigned"); !strings.Contains(cond.Message, "spec.addresses[0]") {
		t.Errorf("PartiallyAssigned does not name the unsatisfied request: %q", cond.Message)
	}
	edge.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	must(t, c.Status().Update(ctx, edge))
	status("edge", "AddressesAssigned", edge.Spec.ClusterIP+" Cluster", "203.0.113.10 ")

	// The conformance sentinel is served by default and reported as requested.
	sentinel := serviceType("sentinel", corev1.ServiceTypeLoadBalancer)
	status("sentinel", "AddressesAssigned", sentinel.Spec.ClusterIP+" "+string(deployer.RoutabilitySentinel))

	// An implementation-specific routability is not supported: nothing is exposed for it
	// (ClusterIP Service), no address is reported, and the Gateway is not programmed.
	serviceType("vendor", corev1.ServiceTypeClusterIP)
	gw = status("vendor", "NotAssigned")
	if p := meta.FindStatusCondition(gw.Status.Conditions, "Programmed"); p == nil || p.Status != metav1.ConditionFalse || p.Reason != "AddressNotAssigned" ||
		!strings.Contains(p.Message, `routability "example.com/CorpWan" is not supported`) {
		t.Errorf("Programmed of a Gateway with no satisfiable address: %s", condString(gw.Status.Conditions))
	}
	if !meta.IsStatusConditionTrue(gw.Status.Conditions, "Accepted") {
		t.Errorf("an unsatisfiable address must not unaccept the Gateway: %s", condString(gw.Status.Conditions))
	}

	// Routability changes: the edge Gateway asks only for Cluster (its Service becomes
	// ClusterIP, the load balancer's address goes), the internal one for the default (its
	// Service becomes LoadBalancer).
	update := func(name string, addrs ...gwv1.GatewaySpecAddress) {
		t.Helper()
		var gw gwv1.Gateway
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &gw))
		gw.Spec.Addresses = addrs
		must(t, c.Update(ctx, &gw))
	}
	update("edge", addr(gwv1.GatewayAddressRoutabilityCluster))
	edge = serviceType("edge", corev1.ServiceTypeClusterIP)
	for _, p := range edge.Spec.Ports {
		if p.NodePort != 0 {
			t.Errorf("ClusterIP Service kept node port %d", p.NodePort)
		}
	}
	status("edge", "AddressesAssigned", edge.Spec.ClusterIP+" Cluster")
	update("internal", addr(""))
	svc = serviceType("internal", corev1.ServiceTypeLoadBalancer)
	status("internal", "AddressesAssigned", svc.Spec.ClusterIP+" Cluster")
	var list corev1.ServiceList
	must(t, c.List(ctx, &list, client.InNamespace(ns)))
	if len(list.Items) != 5 {
		t.Errorf("%d Services in %s, want one per Gateway (5)", len(list.Items), ns)
	}
}
