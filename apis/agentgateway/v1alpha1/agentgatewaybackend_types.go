package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentgatewayBackend is a backend that is not a Kubernetes Service: a static host and port,
// or an MCP gateway in front of several MCP servers (spec.mcp). Routes reference it with
// `group: agentgateway.dev, kind: AgentgatewayBackend` in backendRefs.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=agentgateway,shortName=agbe;agbackend
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.static.host`
// +kubebuilder:printcolumn:name="Port",type=integer,JSONPath=`.spec.static.port`
// +kubebuilder:printcolumn:name="MCP Targets",type=string,JSONPath=`.spec.mcp.targets[*].name`
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
// +kubebuilder:validation:XValidation:rule="has(self.static) != has(self.mcp)",message="set exactly one backend variant: static or mcp"
type AgentgatewayBackendSpec struct {
	// Static is a fixed host and port.
	// +optional
	Static *StaticBackend `json:"static,omitempty"`

	// MCP makes the backend one Model Context Protocol endpoint in front of several MCP
	// servers: their tools, prompts and resources are merged, and every call goes to the
	// server that owns it.
	// +optional
	MCP *MCPBackend `json:"mcp,omitempty"`
}

// MCPBackend is an MCP gateway in front of several MCP servers (targets).
type MCPBackend struct {
	// Targets are the MCP servers, in order (the order decides which target keeps a shared
	// tool name under toolPrefix Never).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Targets []MCPTarget `json:"targets"`

	// SessionRouting is Stateful (default: the client's session id seals the targets' session
	// ids, so any proxy replica continues a session) or Stateless (no session; targets must
	// serve requests without one).
	// +optional
	// +kubebuilder:validation:Enum=Stateful;Stateless
	SessionRouting *string `json:"sessionRouting,omitempty"`

	// FailureMode is FailClosed (default: initialize and lists fail when a target fails) or
	// FailOpen (they answer from the other targets).
	// +optional
	// +kubebuilder:validation:Enum=FailClosed;FailOpen
	FailureMode *string `json:"failureMode,omitempty"`

	// ToolPrefix says when merged tool and prompt names become "<target>_<name>": OnConflict
	// (default, only names several targets share), Always, or Never (the first target keeps
	// a shared name).
	// +optional
	// +kubebuilder:validation:Enum=Always;OnConflict;Never
	ToolPrefix *string `json:"toolPrefix,omitempty"`
}

// MCPTarget is one MCP server behind an MCP backend: a static host and port, or a Service
// port in the backend's namespace.
//
// +kubebuilder:validation:XValidation:rule="has(self.static) != has(self.service)",message="set exactly one of static or service"
type MCPTarget struct {
	// Name identifies the target in tool prefixes, in the mcp.target CEL variable and in
	// status.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$`
	Name string `json:"name"`

	// Static is a fixed host and port.
	// +optional
	Static *MCPStaticTarget `json:"static,omitempty"`

	// Service is a port of a Service in the backend's namespace; the proxy reaches one of its
	// ready endpoints (or its cluster IP when it has none).
	// +optional
	Service *MCPServiceTarget `json:"service,omitempty"`

	// Path of the MCP endpoint; defaults to /mcp (StreamableHTTP) or /sse (SSE).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^?# \t]*$`
	Path *string `json:"path,omitempty"`

	// Transport is StreamableHTTP (default) or SSE (the HTTP+SSE transport of MCP 2024-11-05).
	// +optional
	// +kubebuilder:validation:Enum=StreamableHTTP;SSE
	Transport *string `json:"transport,omitempty"`
}

// MCPStaticTarget is a fixed host and port.
type MCPStaticTarget struct {
	// Host is a DNS name or an IP address.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?|[0-9a-fA-F:.]+)$`
	Host string `json:"host"`

	// Port of the MCP server.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// MCPServiceTarget is a Service port in the backend's namespace.
type MCPServiceTarget struct {
	// Name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Port of the Service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
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
