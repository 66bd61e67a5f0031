package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AgentgatewayParameters shapes the proxy Deployment, Service and ServiceAccount the operator
// creates for a Gateway. It is referenced from GatewayClass.spec.parametersRef (defaults for
// every Gateway of the class) and Gateway.spec.infrastructure.parametersRef (per Gateway);
// when both are set, the Gateway's fields win over the class's, field by field.
//
// Whatever the parameters say, proxy pods run hardened: as user and group 65532 (non-root),
// with a read-only root filesystem, no privilege escalation, every capability dropped and
// the RuntimeDefault seccomp profile. They still bind Gateway ports below 1024: the pod sets
// the sysctl net.ipv4.ip_unprivileged_port_start=0, which Kubernetes counts as safe because
// it applies to the pod's own network namespace only. A NET_BIND_SERVICE capability would not
// do: Kubernetes adds capabilities to the bounding and permitted sets, and a process that
// does not run as root only gets them in its effective set through ambient capabilities,
// which a container spec cannot ask for.
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
//
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.horizontalPodAutoscaler))",message="replicas and horizontalPodAutoscaler are exclusive: the autoscaler owns the replica count"
type AgentgatewayParametersSpec struct {
	// Image of the proxy container.
	// +optional
	Image *Image `json:"image,omitempty"`

	// Replicas of the proxy Deployment. Unset, the operator leaves the count alone (1 for a
	// new Deployment). Exclusive with HorizontalPodAutoscaler; when the class sets one and the
	// Gateway the other, the Gateway's choice wins.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// HorizontalPodAutoscaler, when set, makes an autoscaling/v2 HorizontalPodAutoscaler that
	// scales the proxy Deployment on CPU utilization, and the operator stops applying the
	// Deployment's replica count (the count live at that moment is kept until the autoscaler
	// changes it). It needs a CPU request on the proxy container, which the default Resources
	// have.
	// +optional
	HorizontalPodAutoscaler *AutoscalerSettings `json:"horizontalPodAutoscaler,omitempty"`

	// PodDisruptionBudget limits voluntary disruptions (node drains, evictions) of the
	// proxies. Unset, a budget of maxUnavailable 1 is made whenever the Deployment can run
	// more than one replica (replicas above 1, or an autoscaler with maxReplicas above 1), and
	// none for a single replica, where a budget either allows evicting the only pod or blocks
	// node drains. Set, the budget is made as given whatever the replica count. Pods that are
	// not ready may always be evicted (unhealthyPodEvictionPolicy AlwaysAllow), so a broken
	// rollout never blocks a drain.
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSettings `json:"podDisruptionBudget,omitempty"`

	// Resources of the proxy container. Unset, the container requests 100m CPU and 128Mi of
	// memory and has no limits; set, it replaces those defaults as a whole.
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

// AutoscalerSettings shape the proxies' HorizontalPodAutoscaler.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.maxReplicas >= self.minReplicas",message="maxReplicas must be at least minReplicas"
type AutoscalerSettings struct {
	// MinReplicas the autoscaler keeps. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas the autoscaler may scale up to.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`

	// TargetCPUUtilizationPercentage is the average CPU use the autoscaler aims for, as a
	// percentage of the proxy container's CPU request. Defaults to 80.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// PodDisruptionBudgetSettings shape the proxies' PodDisruptionBudget: exactly one of
// MinAvailable and MaxUnavailable.
//
// +kubebuilder:validation:XValidation:rule="has(self.minAvailable) != has(self.maxUnavailable)",message="set exactly one of minAvailable and maxUnavailable"
type PodDisruptionBudgetSettings struct {
	// MinAvailable proxies an eviction must leave: a count, or a percentage of the desired
	// replicas such as "50%".
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a non-negative count or a percentage from 0% to 100%"
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`

	// MaxUnavailable proxies evictions may take down at a time: a count, or a percentage of
	// the desired replicas such as "25%".
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a non-negative count or a percentage from 0% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
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
	// AccessLog turns the access log on or off: one JSON line per HTTP request and per
	// TCP, TLS or UDP connection on the proxy's stdout. Defaults to Enabled. Listeners whose
	// AgentgatewayPolicy sets frontend.accessLog write their lines either way.
	// +optional
	AccessLog *AccessLogMode `json:"accessLog,omitempty"`
}

// AccessLogMode turns the proxy access log on or off.
//
// +kubebuilder:validation:Enum=Enabled;Disabled
type AccessLogMode string

// The access log modes.
const (
	AccessLogEnabled  AccessLogMode = "Enabled"
	AccessLogDisabled AccessLogMode = "Disabled"
)

// ServiceSettings shapes the proxy Service.
type ServiceSettings struct {
	// Type of the Service. Defaults to LoadBalancer. A Gateway whose spec.addresses all ask
	// for routability Cluster gets a ClusterIP Service whatever this says.
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
