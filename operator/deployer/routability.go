package deployer

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// RoutabilitySentinel is the routability value GEP-5093 reserves for conformance: it carries
// no reachability guarantee and is served like the default.
const RoutabilitySentinel gwv1.GatewayAddressRoutabilityType = "testing.x-k8s.io/sentinel"

// DefaultRoutability reports whether r asks for the implementation's default address (the
// Service's load balancer or external address): empty, or the conformance sentinel.
func DefaultRoutability(r gwv1.GatewayAddressRoutabilityType) bool {
	return r == gwv1.GatewayAddressRoutabilityDefault || r == RoutabilitySentinel
}

// ClusterOnly reports whether a Gateway's proxy Service must be of type ClusterIP because
// spec.addresses asks for no default address: every entry asks for routability Cluster (the
// Service's cluster IP) or for one the operator does not support (left unassigned, so
// nothing may be exposed for it). Such a Service is never LoadBalancer or NodePort, whatever
// the AgentgatewayParameters say.
func ClusterOnly(gw *gwv1.Gateway) bool {
	if len(gw.Spec.Addresses) == 0 {
		return false
	}
	for _, a := range gw.Spec.Addresses {
		if DefaultRoutability(a.Routability) {
			return false
		}
	}
	return true
}
