package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AgentgatewayParameters shapes the proxy Deployment, Service and ServiceAccount the operator
// creates for a Gateway. It is referenced from GatewayClass.spec.parametersRef (defaults for
// every Gateway of the class) and Gateway.spec.infrastructure.parametersRef (per Gateway);
// when both are set, the Gateway's fields win over the class's, field by field.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=agentgateway,shortName=agparams
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image.repository`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service.type`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type AgentgatewayParameters struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired shape of the proxy workload.
	Spec AgentgatewayParametersSpec `json:"spec"`
}

// AgentgatewayParametersSpec is the desired shape of a Gateway's proxy workload.
type AgentgatewayParametersSpec struct {
	// Image of the proxy container.
	// +optional
	Image *Image `json:"image,omitempty"`

	// Replicas of the proxy Deployment. Leave unset to let a HorizontalPodAutoscaler own it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// Resources of the proxy container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Env adds environment variables to the proxy container.
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Logging of the proxy.
	// +optional
	Logging *Logging `json:"logging,omitempty"`

	// Service shapes the proxy Service.
	// +optional
	Service *ServiceSettings `json:"service,omitempty"`

	// Overlays are strategic-merge patches applied last to the generated objects, for
	// anything the fields above do not cover (tolerations, sidecars, ...).
	// +optional
	Overlays *Overlays `json:"overlays,omitempty"`
}

// Image names a container image.
type Image struct {
	// Registry, for example ghcr.io.
	// +optional
	Registry *string `json:"registry,omitempty"`
	// Repository, for example agentgateway-go/proxy.
	// +optional
	Repository *string `json:"repository,omitempty"`
	// Tag, for example v0.1.0.
	// +optional
	Tag *string `json:"tag,omitempty"`
	// PullPolicy of the image.
	// +optional
	PullPolicy *corev1.PullPolicy `json:"pullPolicy,omitempty"`
}

// LogLevel is a proxy log level.
//
// +kubebuilder:validation:Enum=debug;info;warn;error
type LogLevel string

// LogFormat is a proxy log format.
//
// +kubebuilder:validation:Enum=json;text
type LogFormat string

// Logging configures proxy logs.
type Logging struct {
	// Level of the proxy logs. Defaults to info.
	// +optional
	Level *LogLevel `json:"level,omitempty"`
	// Format of the proxy logs. Defaults to json.
	// +optional
	Format *LogFormat `json:"format,omitempty"`
}

// ServiceSettings shapes the proxy Service.
type ServiceSettings struct {
	// Type of the Service. Defaults to LoadBalancer.
	// +optional
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type *corev1.ServiceType `json:"type,omitempty"`

	// Annotations added to the Service, for example for a cloud load balancer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// ExternalTrafficPolicy of the Service.
	// +optional
	ExternalTrafficPolicy *corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`
}

// Overlays are strategic-merge patches of the generated objects.
type Overlays struct {
	// Deployment patch (strategic merge, as `kubectl patch --type strategic`).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Deployment *runtime.RawExtension `json:"deployment,omitempty"`

	// Service patch.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Service *runtime.RawExtension `json:"service,omitempty"`

	// ServiceAccount patch.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	ServiceAccount *runtime.RawExtension `json:"serviceAccount,omitempty"`
}

// AgentgatewayParametersList is a list of AgentgatewayParameters.
//
// +kubebuilder:object:root=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type AgentgatewayParametersList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentgatewayParameters `json:"items"`
}
