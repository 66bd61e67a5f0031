package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentgatewayBackend is a backend that is not a Kubernetes Service: today a static host and
// port; MCP servers and LLM providers are planned as further variants. Routes reference it
// with `group: agentgateway.dev, kind: AgentgatewayBackend` in backendRefs.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=agentgateway,shortName=agbe;agbackend
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.static.host`
// +kubebuilder:printcolumn:name="Port",type=integer,JSONPath=`.spec.static.port`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type AgentgatewayBackend struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the backend is.
	Spec AgentgatewayBackendSpec `json:"spec"`

	// Status reports whether the backend is usable.
	// +optional
	Status AgentgatewayBackendStatus `json:"status,omitempty"`
}

// AgentgatewayBackendSpec says where a backend is. Exactly one variant is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.static)",message="set exactly one backend variant: static"
type AgentgatewayBackendSpec struct {
	// Static is a fixed host and port.
	// +optional
	Static *StaticBackend `json:"static,omitempty"`
}

// StaticBackend is a fixed host and port.
type StaticBackend struct {
	// Host is a DNS name or an IP address.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?|[0-9a-fA-F:.]+)$`
	Host string `json:"host"`

	// Port of the backend.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// AppProtocol spoken by the backend, as on a Service port: http (default), kubernetes.io/h2c,
	// https, or tcp (a raw TCP backend: only TCPRoutes and TLSRoutes may use it; HTTPRoutes and
	// GRPCRoutes that reference it get ResolvedRefs=False).
	// +optional
	// +kubebuilder:validation:Enum=http;kubernetes.io/h2c;https;tcp
	AppProtocol *string `json:"appProtocol,omitempty"`
}

// AgentgatewayBackendStatus reports whether the backend is usable.
type AgentgatewayBackendStatus struct {
	// Conditions: Accepted.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AgentgatewayBackendList is a list of AgentgatewayBackend.
//
// +kubebuilder:object:root=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type AgentgatewayBackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentgatewayBackend `json:"items"`
}
