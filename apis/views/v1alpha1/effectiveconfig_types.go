package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EffectiveConfig is the configuration one Gateway's proxies run: its listeners, the routes
// of each listener in match-precedence order, their backends, and the policies that apply to
// each route after merging, with the object each field came from. It has the Gateway's name
// and namespace.
//
// +genclient
// +genclient:onlyVerbs=get,list,watch
// +genclient:noStatus
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type EffectiveConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// GatewayClassName of the Gateway.
	GatewayClassName string `json:"gatewayClassName"`

	// Version of the configuration, as sent to and acknowledged by proxies.
	Version string `json:"version"`

	// Proxies counts this Gateway's connected proxies and how many run Version.
	Proxies ProxyCounts `json:"proxies"`

	// Listeners, in the order the proxy binds them.
	// +listType=atomic
	Listeners []EffectiveListener `json:"listeners,omitempty"`
}

// ProxyCounts counts the proxies of a Gateway.
type ProxyCounts struct {
	// Synced proxies acknowledged the current version.
	Synced int32 `json:"synced"`
	// Total connected proxies.
	Total int32 `json:"total"`
}

// EffectiveListener is one listener as the proxy runs it.
type EffectiveListener struct {
	// Name of the listener (for a ListenerSet listener: <namespace>/<listenerset>/<name>).
	Name string `json:"name"`
	// Port the proxy binds.
	Port int32 `json:"port"`
	// Protocol: HTTP, HTTPS, TLS, TCP or UDP.
	Protocol string `json:"protocol"`
	// Hostname the listener accepts; empty for any.
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// TLS of the listener; certificate names only, never keys.
	// +optional
	TLS *EffectiveTLS `json:"tls,omitempty"`
	// Routes attached to this listener, in match-precedence order.
	// +listType=atomic
	Routes []EffectiveRoute `json:"routes,omitempty"`
}

// EffectiveTLS describes a listener's TLS without secret material.
type EffectiveTLS struct {
	// Mode is Terminate or Passthrough.
	Mode string `json:"mode"`
	// Certificates are the Secrets presented, as namespace/name.
	// +listType=atomic
	Certificates []string `json:"certificates,omitempty"`
}

// EffectiveRoute is one rule of one route, as matched by the proxy.
type EffectiveRoute struct {
	// Kind of the route: HTTPRoute, GRPCRoute, TLSRoute, TCPRoute or UDPRoute.
	Kind string `json:"kind"`
	// Namespace of the route.
	Namespace string `json:"namespace"`
	// Name of the route.
	Name string `json:"name"`
	// Rule is the rule's name, or its index when unnamed.
	Rule string `json:"rule"`
	// Hostnames matched, after intersection with the listener's hostname.
	// +listType=atomic
	Hostnames []string `json:"hostnames,omitempty"`
	// Matches of the rule, rendered one per line (for example `PathPrefix /api, header x-env=prod`).
	// +listType=atomic
	Matches []string `json:"matches,omitempty"`
	// Filters of the rule, rendered (for example `RequestHeaderModifier set x-a=b`).
	// +listType=atomic
	Filters []string `json:"filters,omitempty"`
	// Backends of the rule with their weights and endpoint counts.
	// +listType=atomic
	Backends []EffectiveBackend `json:"backends,omitempty"`
	// Policies are the merged policy fields that apply to this rule.
	// +listType=atomic
	Policies []EffectivePolicyField `json:"policies,omitempty"`
}

// EffectiveBackend is one backend of a route rule.
type EffectiveBackend struct {
	// Name of the backend: <kind>/<namespace>/<name>:<port>.
	Name string `json:"name"`
	// Weight of the backend in the rule.
	Weight int32 `json:"weight"`
	// Endpoints resolved for the backend.
	Endpoints int32 `json:"endpoints"`
	// Error says why the backend is invalid (the proxy then answers 500 for its share).
	// +optional
	Error string `json:"error,omitempty"`
}

// EffectivePolicyField is one merged policy field and where it came from.
type EffectivePolicyField struct {
	// Field path inside the policy spec, for example traffic.rateLimit.
	Field string `json:"field"`
	// Source policy as namespace/name, with the level it attached at.
	Source string `json:"source"`
	// Value as JSON, with secret material redacted.
	Value string `json:"value"`
}

// EffectiveConfigList is a list of EffectiveConfig.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type EffectiveConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EffectiveConfig `json:"items"`
}
