// Package v1alpha1 holds the agentgateway.dev/v1alpha1 custom resources: AgentgatewayPolicy,
// AgentgatewayParameters and AgentgatewayBackend.
//
// These types are the user-facing contract. The operator translates them, together with the
// Gateway API objects they attach to, into each Gateway's proxy configuration; the admission
// webhook and the translator validate them with the same code (apis/agentgateway/validation and
// proxy/cel), so a policy that passes admission is one the proxy runs.
//
// +k8s:deepcopy-gen=package
// +kubebuilder:object:generate=true
// +groupName=agentgateway.dev
package v1alpha1
