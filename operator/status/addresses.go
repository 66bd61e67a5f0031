package status

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/operator/deployer"
)

// serviceAddress is an address the proxy Service has: a load balancer ingress or external IP
// (routability empty: no portable reachability guarantee) or a cluster IP (routability
// Cluster: in the ServiceCIDR, reachable from inside the cluster).
type serviceAddress struct {
	typ         gwv1.AddressType
	value       string
	routability gwv1.GatewayAddressRoutabilityType
	source      int // 0 load balancer, 1 external IP, 2 cluster IP
	used        bool
}

// assignment is the outcome of matching a Gateway's spec.addresses to its Service's
// addresses (GEP-5093): the status addresses, the AddressesAssigned condition (nil until the
// Service exists) and, when no requested address could be assigned, why.
type assignment struct {
	addresses  []gwv1.GatewayStatusAddress
	condition  *metav1.Condition
	noneReason string
}

// assignAddresses matches spec.addresses to the Service's addresses. Without spec.addresses
// the Gateway reports the load balancer's addresses, else the external IPs, else the cluster
// IP. With them, each entry is satisfied by its own Service address (list order does not
// matter: entries with a value or a Cluster requirement choose first), and status reports
// exactly the satisfied ones:
//   - routability empty (or the conformance sentinel testing.x-k8s.io/sentinel, reported as
//     such): a load balancer or external address, else (no load balancer has assigned one)
//     the cluster IP, reported as Cluster;
//   - routability Cluster (type IPAddress only): the Service's cluster IP, which the cluster
//     allocates from its ServiceCIDR; a requested value must be that IP;
//   - any other routability is not supported and stays unsatisfied.
//
// Every status address carries its routability.
func assignAddresses(gw *gwv1.Gateway, svc *corev1.Service) assignment {
	var have []*serviceAddress
	for _, in := range svc.Status.LoadBalancer.Ingress {
		switch {
		case in.IP != "":
			have = append(have, &serviceAddress{typ: gwv1.IPAddressType, value: in.IP})
		case in.Hostname != "":
			have = append(have, &serviceAddress{typ: gwv1.HostnameAddressType, value: in.Hostname})
		}
	}
	for _, ip := range svc.Spec.ExternalIPs {
		have = append(have, &serviceAddress{typ: gwv1.IPAddressType, value: ip, source: 1})
	}
	clusterIPs := svc.Spec.ClusterIPs
	if len(clusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		clusterIPs = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range clusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			have = append(have, &serviceAddress{typ: gwv1.IPAddressType, value: ip, routability: gwv1.GatewayAddressRoutabilityCluster, source: 2})
		}
	}
	var out assignment
	report := func(a *serviceAddress, r gwv1.GatewayAddressRoutabilityType) {
		a.used = true
		out.addresses = append(out.addresses, gwv1.GatewayStatusAddress{Type: ptr.To(a.typ), Value: a.value, Routability: ptr.To(r)})
	}

	if len(gw.Spec.Addresses) == 0 {
		// The implementation's default: the first kind of address the Service has.
		for _, a := range have {
			if a.source != have[0].source {
				break
			}
			report(a, a.routability)
		}
		if len(out.addresses) > 0 {
			out.condition = &metav1.Condition{Type: string(gwv1.GatewayConditionAddressesAssigned), Status: metav1.ConditionTrue,
				Reason: string(gwv1.GatewayReasonAddressesAssigned), Message: "the proxy Service's addresses are assigned"}
		}
		return out
	}

	// Entries with a value or a routability requirement choose first, so an unconstrained
	// entry does not take the one address they can use.
	order := make([]int, 0, len(gw.Spec.Addresses))
	for i, a := range gw.Spec.Addresses {
		if a.Value != "" || !deployer.DefaultRoutability(a.Routability) {
			order = append(order, i)
		}
	}
	for i, a := range gw.Spec.Addresses {
		if a.Value == "" && deployer.DefaultRoutability(a.Routability) {
			order = append(order, i)
		}
	}
	var unsatisfied []string
	for _, i := range order {
		req := gw.Spec.Addresses[i]
		typ := ptr.Deref(req.Type, gwv1.IPAddressType)
		matches := func(a *serviceAddress) bool {
			return !a.used && a.typ == typ && (req.Value == "" || a.value == req.Value)
		}
		why := ""
		switch {
		case deployer.DefaultRoutability(req.Routability):
			var pick *serviceAddress
			for _, a := range have {
				// The load balancer's and external addresses first, the cluster IP last.
				if matches(a) && (pick == nil || pick.routability == gwv1.GatewayAddressRoutabilityCluster && a.routability == "") {
					pick = a
				}
			}
			if pick != nil {
				r := pick.routability
				if req.Routability == deployer.RoutabilitySentinel {
					r = req.Routability
				}
				report(pick, r)
				continue
			}
			why = "the proxy Service " + svc.Name + " has no such address"
			if req.Value != "" {
				why = "the proxy Service " + svc.Name + " was not assigned it"
			}
		case req.Routability == gwv1.GatewayAddressRoutabilityCluster && typ != gwv1.IPAddressType:
			why = "routability Cluster is supported for type IPAddress only"
		case req.Routability == gwv1.GatewayAddressRoutabilityCluster:
			var pick *serviceAddress
			for _, a := range have {
				if pick == nil && a.routability == gwv1.GatewayAddressRoutabilityCluster && matches(a) {
					pick = a
				}
			}
			if pick != nil {
				report(pick, gwv1.GatewayAddressRoutabilityCluster)
				continue
			}
			why = "the proxy Service " + svc.Name + " has no free cluster IP"
			if req.Value != "" {
				why = fmt.Sprintf("it is not a cluster IP of the proxy Service %s (%s); the cluster allocates the cluster IP, omit the value to use it",
					svc.Name, strings.Join(clusterIPs, ", "))
			}
		default:
			why = fmt.Sprintf("routability %q is not supported (supported: empty, Cluster, %s)", req.Routability, deployer.RoutabilitySentinel)
		}
		unsatisfied = append(unsatisfied, fmt.Sprintf("spec.addresses[%d] (%s)", i, describe(req))+": "+why)
	}
	c := &metav1.Condition{Type: string(gwv1.GatewayConditionAddressesAssigned), Status: metav1.ConditionTrue,
		Reason: string(gwv1.GatewayReasonAddressesAssigned), Message: "every requested address is assigned"}
	switch {
	case len(unsatisfied) == 0:
	case len(out.addresses) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, string(gwv1.GatewayReasonAddressesPartiallyAssigned)
		c.Message = "not assigned: " + strings.Join(unsatisfied, "; ")
	default:
		c.Status, c.Reason = metav1.ConditionFalse, string(gwv1.GatewayReasonAddressesNotAssigned)
		c.Message = "not assigned: " + strings.Join(unsatisfied, "; ")
		out.noneReason = "no requested address is assigned: " + strings.Join(unsatisfied, "; ")
	}
	out.condition = c
	return out
}

// describe names a spec address for messages.
func describe(a gwv1.GatewaySpecAddress) string {
	s := string(ptr.Deref(a.Type, gwv1.IPAddressType))
	if a.Value != "" {
		s += " " + a.Value
	}
	if a.Routability != "" {
		s += ", routability " + string(a.Routability)
	}
	return s
}
