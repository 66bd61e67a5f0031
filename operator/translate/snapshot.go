package translate

import (
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// Snapshot is every input of one translation: deep copies of the objects in the informer
// cache, taken at one point in time. Translate reads nothing else (no client, no clock), so
// a Snapshot serialized to YAML is a complete, replayable test input (testdata/<area>/*.in.yaml).
//
// The provider fills it with only the objects translation can use: GatewayClasses of every
// controller (to report which are ours), and everything else unfiltered; Translate decides
// what belongs to our Gateways.
type Snapshot struct {
	// ControllerName is the GatewayClass controllerName this operator owns
	// ("agentgateway.dev/agentgateway").
	ControllerName string `json:"controllerName"`

	// SessionSecret is the operator's secret (at least 32 bytes, the same on every replica)
	// that the keys sealing MCP session ids are derived from, one key per backend. It is not
	// an object of the cluster, so it is never dumped.
	SessionSecret []byte `json:"-"`

	GatewayClasses []gwv1.GatewayClass `json:"gatewayClasses,omitempty"`
	Gateways       []gwv1.Gateway      `json:"gateways,omitempty"`
	ListenerSets   []gwv1.ListenerSet  `json:"listenerSets,omitempty"`
	HTTPRoutes     []gwv1.HTTPRoute    `json:"httpRoutes,omitempty"`
	GRPCRoutes     []gwv1.GRPCRoute    `json:"grpcRoutes,omitempty"`
	TLSRoutes      []gwv1.TLSRoute     `json:"tlsRoutes,omitempty"`
	TCPRoutes      []gwv1.TCPRoute     `json:"tcpRoutes,omitempty"`
	UDPRoutes      []gwv1.UDPRoute     `json:"udpRoutes,omitempty"`
	// ReferenceGrants are read as v1beta1, the storage version of the v1.7.0 CRD (v1 is
	// served too, with the same schema).
	ReferenceGrants    []gwv1b1.ReferenceGrant `json:"referenceGrants,omitempty"`
	BackendTLSPolicies []gwv1.BackendTLSPolicy `json:"backendTLSPolicies,omitempty"`
	// XBackendTrafficPolicies are the experimental gateway.networking.x-k8s.io/v1alpha1
	// policies (GEP-3388 retry budgets); empty when their CRD is not installed.
	XBackendTrafficPolicies []gwxv1a1.XBackendTrafficPolicy `json:"xBackendTrafficPolicies,omitempty"`
	// XTelemetryPolicies are the experimental Gateway tracing policies; empty when their CRD
	// is not installed.
	XTelemetryPolicies []gwxv1a1.XTelemetryPolicy `json:"xTelemetryPolicies,omitempty"`

	Namespaces     []corev1.Namespace               `json:"namespaces,omitempty"`
	Services       []corev1.Service                 `json:"services,omitempty"`
	EndpointSlices []discoveryv1.EndpointSlice      `json:"endpointSlices,omitempty"`
	Secrets        []corev1.Secret                  `json:"secrets,omitempty"`
	ConfigMaps     []corev1.ConfigMap               `json:"configMaps,omitempty"`
	Policies       []agwv1a1.AgentgatewayPolicy     `json:"policies,omitempty"`
	Backends       []agwv1a1.AgentgatewayBackend    `json:"backends,omitempty"`
	Parameters     []agwv1a1.AgentgatewayParameters `json:"parameters,omitempty"`

	// ClusterTrustBundles (certificates.k8s.io/v1) are the CA bundles that caCertificateRefs
	// of BackendTLSPolicies and of Gateway frontend validation may name (GEP-5075); empty
	// when the apiserver does not serve them.
	ClusterTrustBundles []certv1.ClusterTrustBundle `json:"clusterTrustBundles,omitempty"`

	// ServiceImports (multicluster.x-k8s.io/v1alpha1, the Multi-Cluster Services API) are
	// the backendRefs of kind ServiceImport (GEP-1748); their endpoints are the
	// EndpointSlices labelled multicluster.kubernetes.io/service-name. Empty when the
	// apiserver does not serve the CRD.
	ServiceImports []mcsv1a1.ServiceImport `json:"serviceImports,omitempty"`

	// XBackends (gateway.networking.x-k8s.io/v1alpha1) are the backendRefs of kind XBackend;
	// empty when the apiserver does not serve the CRD.
	XBackends []gwxv1a1.XBackend `json:"xBackends,omitempty"`

	// Pods are the endpoints of XBackends of type EndpointSelector. The provider lists only
	// the Pods some such XBackend's selector matches, stripped to their labels, IPs, Ready
	// condition and deletion mark; translation selects among them again.
	Pods []corev1.Pod `json:"pods,omitempty"`
}
