package status

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestAssignAddresses matches spec.addresses to the proxy Service's addresses as GEP-5093
// says: one distinct address per satisfied entry, routability on every status address,
// AddressesAssigned True/PartiallyAssigned/NotAssigned, and no substitute scope.
func TestAssignAddresses(t *testing.T) {
	lb := func(typ corev1.ServiceType, clusterIP string, ingress ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "gw-agentgateway"}, Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP}}
		for _, in := range ingress {
			if strings.Contains(in, ".example") {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: in})
			} else {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: in})
			}
		}
		return s
	}
	addr := func(typ gwv1.AddressType, value string, r gwv1.GatewayAddressRoutabilityType) gwv1.GatewaySpecAddress {
		return gwv1.GatewaySpecAddress{Type: ptr.To(typ), Value: value, Routability: r}
	}
	const ip, host = gwv1.IPAddressType, gwv1.HostnameAddressType
	for _, tc := range []struct {
		name   string
		spec   []gwv1.GatewaySpecAddress
		svc    *corev1.Service
		want   string // "type value routability" sorted, joined by "; "
		reason string // AddressesAssigned reason, "" when the condition is omitted
		none   bool   // Programmed must turn AddressNotAssigned
		msg    string // in the condition's message
	}{{
		name: "default with a load balancer", svc: lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9", "203.0.113.10"),
		want: "IPAddress 203.0.113.10 ", reason: "AddressesAssigned",
	}, {
		name: "default without a load balancer reports the cluster IP as Cluster", svc: lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9"),
		want: "IPAddress 10.96.0.9 Cluster", reason: "AddressesAssigned",
	}, {
		name: "default with external IPs", svc: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.9", ExternalIPs: []string{"192.0.2.1"}}},
		want: "IPAddress 192.0.2.1 ", reason: "AddressesAssigned",
	}, {
		name: "default hostname", svc: lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9", "lb.example"),
		want: "Hostname lb.example ", reason: "AddressesAssigned",
	}, {
		name: "no address yet", svc: lb(corev1.ServiceTypeLoadBalancer, ""),
	}, {
		name: "Cluster", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "Cluster")}, svc: lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		want: "IPAddress 10.96.0.9 Cluster", reason: "AddressesAssigned",
	}, {
		name: "Cluster with the cluster IP as value", spec: []gwv1.GatewaySpecAddress{addr(ip, "10.96.0.9", "Cluster")}, svc: lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		want: "IPAddress 10.96.0.9 Cluster", reason: "AddressesAssigned",
	}, {
		name: "Cluster with another value is not assigned", spec: []gwv1.GatewaySpecAddress{addr(ip, "192.0.2.7", "Cluster")}, svc: lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		reason: "NotAssigned", none: true, msg: "spec.addresses[0] (IPAddress 192.0.2.7, routability Cluster): it is not a cluster IP",
	}, {
		name: "Cluster never takes a load balancer address", spec: []gwv1.GatewaySpecAddress{addr(ip, "203.0.113.10", "Cluster")}, svc: lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9", "203.0.113.10"),
		reason: "NotAssigned", none: true, msg: "not a cluster IP",
	}, {
		name: "Cluster hostname is not supported", spec: []gwv1.GatewaySpecAddress{addr(host, "", "Cluster")}, svc: lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		reason: "NotAssigned", none: true, msg: "type IPAddress only",
	}, {
		name: "mixed default and Cluster, in either order", spec: []gwv1.GatewaySpecAddress{addr(ip, "", ""), addr(ip, "", "Cluster")},
		svc:  lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9", "203.0.113.10"),
		want: "IPAddress 10.96.0.9 Cluster; IPAddress 203.0.113.10 ", reason: "AddressesAssigned",
	}, {
		name: "mixed before the load balancer assigns: the default entry waits", spec: []gwv1.GatewaySpecAddress{addr(ip, "", ""), addr(ip, "", "Cluster")},
		svc:  lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9"),
		want: "IPAddress 10.96.0.9 Cluster", reason: "PartiallyAssigned", msg: "spec.addresses[0] (IPAddress): the proxy Service gw-agentgateway has no such address",
	}, {
		name: "implementation-specific routability is not supported", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "example.com/CorpWan")},
		svc:    lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		reason: "NotAssigned", none: true, msg: `routability "example.com/CorpWan" is not supported`,
	}, {
		name: "other testing.x-k8s.io values are not supported", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "testing.x-k8s.io/other")},
		svc:    lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		reason: "NotAssigned", none: true, msg: "not supported",
	}, {
		name: "unsupported beside Cluster is partial", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "Cluster"), addr(ip, "", "example.com/CorpWan")},
		svc:  lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		want: "IPAddress 10.96.0.9 Cluster", reason: "PartiallyAssigned", msg: "spec.addresses[1]",
	}, {
		name: "sentinel is served by default and reported as requested", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "testing.x-k8s.io/sentinel")},
		svc:  lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9", "203.0.113.10"),
		want: "IPAddress 203.0.113.10 testing.x-k8s.io/sentinel", reason: "AddressesAssigned",
	}, {
		name: "static default address", spec: []gwv1.GatewaySpecAddress{addr(ip, "203.0.113.10", ""), addr(ip, "203.0.113.11", "")},
		svc:  lb(corev1.ServiceTypeLoadBalancer, "10.96.0.9", "203.0.113.10"),
		want: "IPAddress 203.0.113.10 ", reason: "PartiallyAssigned", msg: "spec.addresses[1] (IPAddress 203.0.113.11): the proxy Service gw-agentgateway was not assigned it",
	}, {
		name: "two Cluster entries and one cluster IP", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "Cluster"), addr(ip, "", "Cluster")},
		svc:  lb(corev1.ServiceTypeClusterIP, "10.96.0.9"),
		want: "IPAddress 10.96.0.9 Cluster", reason: "PartiallyAssigned", msg: "no free cluster IP",
	}, {
		name: "dual-stack cluster IPs", spec: []gwv1.GatewaySpecAddress{addr(ip, "", "Cluster"), addr(ip, "fd00::9", "Cluster")},
		svc:  &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.9", ClusterIPs: []string{"10.96.0.9", "fd00::9"}}},
		want: "IPAddress 10.96.0.9 Cluster; IPAddress fd00::9 Cluster", reason: "AddressesAssigned",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			gw := &gwv1.Gateway{Spec: gwv1.GatewaySpec{Addresses: tc.spec}}
			got := assignAddresses(gw, tc.svc)
			var addrs []string
			for _, a := range got.addresses {
				if a.Routability == nil || a.Type == nil {
					t.Fatalf("status address %+v lacks its type or routability", a)
				}
				addrs = append(addrs, fmt.Sprintf("%s %s %s", *a.Type, a.Value, *a.Routability))
			}
			sort.Strings(addrs)
			if s := strings.Join(addrs, "; "); s != tc.want {
				t.Errorf("addresses %q, want %q", s, tc.want)
			}
			switch c := got.condition; {
			case tc.reason == "" && c != nil:
				t.Errorf("AddressesAssigned %+v before any address", *c)
			case tc.reason == "":
			case c == nil:
				t.Errorf("no AddressesAssigned condition, want reason %s", tc.reason)
			case c.Reason != tc.reason || (c.Status == metav1.ConditionTrue) != (tc.reason == "AddressesAssigned") || !strings.Contains(c.Message, tc.msg):
				t.Errorf("AddressesAssigned %s/%s %q, want reason %s with %q", c.Status, c.Reason, c.Message, tc.reason, tc.msg)
			}
			if (got.noneReason != "") != tc.none {
				t.Errorf("noneReason %q, want set: %v", got.noneReason, tc.none)
			}
		})
	}
}
