package translate

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Result is everything one translation produces: the proxy configuration of each of our
// Gateways, and the status of every input object that translation has an opinion about.
//
// Every slice is sorted (by kind, namespace, name), so two translations of equal
// Snapshots are deeply equal and serialize to the same bytes. Conditions carry
// ObservedGeneration from their object and a zero LastTransitionTime: Translate has no
// clock; the status writer keeps the old transition time when status and reason are
// unchanged and sets "now" otherwise.
//
// A Result is read-only: configs of different Gateways (and routes on different listeners)
// share memory. Use config.Config.DeepCopy before changing one.
//
// Status entries are only produced for objects (and, for routes and policies, only for
// parents/ancestors) that belong to our controller. Anything not listed is not ours to
// write.
type Result struct {
	// GatewayClasses lists the classes whose controllerName is ours.
	GatewayClasses []GatewayClassResult `json:"gatewayClasses,omitempty"`
	// Gateways lists every Gateway of an accepted class of ours, with its proxy config.
	Gateways []GatewayResult `json:"gateways,omitempty"`
	// ListenerSets lists every ListenerSet whose parentRef is one of our Gateways.
	ListenerSets []ListenerSetResult `json:"listenerSets,omitempty"`
	// Routes lists every route (any kind) with at least one parentRef to one of our
	// Gateways or their ListenerSets; Parents holds only those parentRefs.
	Routes []RouteResult `json:"routes,omitempty"`
	// Policies lists the ancestor statuses of AgentgatewayPolicies, BackendTLSPolicies and
	// XBackendTrafficPolicies that reach one of our Gateways (or, for AgentgatewayPolicies,
	// whose target is missing).
	Policies []PolicyResult `json:"policies,omitempty"`
	// Backends lists the conditions of every AgentgatewayBackend.
	Backends []BackendResult `json:"backends,omitempty"`
	// XBackends lists the ancestor statuses of XBackends that routes attached to our
	// Gateways name (xbackend.go).
	XBackends []XBackendResult `json:"xBackends,omitempty"`

	// checked is, by route fingerprint, what checkBuiltRoute found ("" when the proxy can
	// use the route); TranslateReusing only.
	checked map[configdelta.Fingerprint]string
	// assembled holds the HTTP routes assembleListener merged without any policy, for the
	// next TranslateReusing.
	assembled map[assembledKey]*assembledRoute
	// built holds the HTTPRoutes buildRoutes built with no mark but their backends, for the
	// next TranslateReusing.
	built map[types.UID]*builtHTTPRoute
}

// ObjectKey identifies one Kubernetes object of the Snapshot.
type ObjectKey struct {
	// Group is the API group ("" for core, "gateway.networking.k8s.io", "agentgateway.dev").
	Group string `json:"group,omitempty"`
	// Kind is the object kind, for example "HTTPRoute".
	Kind string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	// Name of the object.
	Name string `json:"name"`
}

// String returns kind/namespace/name.
func (k ObjectKey) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}

// GatewayClassResult is the status of one GatewayClass of ours.
type GatewayClassResult struct {
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	// Conditions: Accepted (True/Accepted, or False/InvalidParameters).
	Conditions []metav1.Condition `json:"conditions"`
	// SupportedFeatures is status.supportedFeatures, sorted by name (v1.7.0 names).
	SupportedFeatures []gwv1.SupportedFeature `json:"supportedFeatures,omitempty"`
}

// GatewayResult is one Gateway of ours: its proxy configuration and its status.
type GatewayResult struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	// ClassName is spec.gatewayClassName.
	ClassName string `json:"className"`
	// ParametersRef is the AgentgatewayParameters the Gateway uses (Gateway's
	// spec.infrastructure.parametersRef first, then the class's), as namespace/name; empty
	// for none. The deployer reads the object from its own cache.
	ParametersRef string `json:"parametersRef,omitempty"`

	// Config is the complete proxy configuration. Config.Version is a content hash: equal
	// inputs give equal versions, so an unchanged Gateway publishes nothing new.
	// Nil when the Gateway is rejected as a whole (class, parametersRef or addresses), or
	// when the generated config failed config.Validate (a translator bug, reported in
	// Programmed=False/Invalid): proxies then keep their last good config. A Gateway whose
	// listeners are all invalid is Accepted=False/ListenersNotValid but still gets a config
	// (without binds), so its proxies stop serving listeners that became invalid.
	Config *config.Config `json:"config,omitempty"`
	// Encoded is Config cut into pieces (configdelta.Encode; Config.Version is its
	// Version), which the config server pushes; set whenever Config is.
	Encoded *configdelta.Encoded `json:"-"`

	// Conditions: Accepted and Programmed. Programmed here means "translated into a valid
	// config" (True/Programmed) or not (False/Invalid or AddressNotUsable...); the status
	// writer must only publish Programmed=True once the Gateway's proxies acknowledged
	// Config.Version (until then, False/Pending).
	Conditions []metav1.Condition `json:"conditions"`
	// Listeners is status.listeners, in spec order, Gateway listeners only (ListenerSet
	// listeners are reported in ListenerSets). Listener Programmed follows the same rule as
	// the Gateway's.
	Listeners []gwv1.ListenerStatus `json:"listeners,omitempty"`
	// AttachedListenerSets is status.attachedListenerSets.
	AttachedListenerSets int32 `json:"attachedListenerSets"`
	// Ports are the distinct ports the proxy binds, sorted; the deployer exposes them on the
	// Service.
	Ports []Port `json:"ports,omitempty"`

	// Effective is the EffectiveConfig view of this Gateway (Version set, Proxies left zero
	// for the aggregated API to fill in). Contains no secret material.
	Effective *viewsv1a1.EffectiveConfig `json:"effective,omitempty"`
}

// Port is one port a Gateway's proxy listens on.
type Port struct {
	// Name is unique among the Gateway's ports, usable as a Service port name.
	Name string `json:"name"`
	Port int32  `json:"port"`
	// Protocol is TCP or UDP (the transport, for the Service port).
	Protocol string `json:"protocol"`
}

// ListenerSetResult is the status of one ListenerSet attached (or trying to attach) to one
// of our Gateways.
type ListenerSetResult struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	// Conditions: Accepted, Programmed (same "translated OK" meaning as for Gateways).
	Conditions []metav1.Condition `json:"conditions"`
	// Listeners is status.listeners in spec order.
	Listeners []gwv1.ListenerEntryStatus `json:"listeners,omitempty"`
}

// RouteResult is the status of one route for the parents that are ours.
type RouteResult struct {
	// Key is the route (Group gateway.networking.k8s.io; Kind HTTPRoute, GRPCRoute,
	// TLSRoute, TCPRoute or UDPRoute).
	Key        ObjectKey `json:"key"`
	Generation int64     `json:"generation"`
	// Parents are status.parents entries for our parentRefs, in spec order, each with
	// ControllerName set and conditions Accepted and ResolvedRefs.
	Parents []gwv1.RouteParentStatus `json:"parents"`
}

// PolicyResult is the status of one policy (AgentgatewayPolicy, BackendTLSPolicy or
// XBackendTrafficPolicy, the last with Key.Group gateway.networking.x-k8s.io).
type PolicyResult struct {
	Key        ObjectKey `json:"key"`
	Generation int64     `json:"generation"`
	// Ancestors are status.ancestors entries written by us, sorted by ancestor ref. Each
	// has an Accepted condition (reasons Accepted, Conflicted, Invalid, TargetNotFound) and,
	// for AgentgatewayPolicy, a ResolvedRefs condition when it references other objects.
	Ancestors []gwv1.PolicyAncestorStatus `json:"ancestors"`
}

// BackendResult is the status of one AgentgatewayBackend.
type BackendResult struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	// Conditions: Accepted.
	Conditions []metav1.Condition `json:"conditions"`
}
