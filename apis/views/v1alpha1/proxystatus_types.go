package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProxyStatus is one proxy pod known to the control plane: which Gateway it serves, whether
// it holds a config stream (and if not, since when), the config version it acknowledged,
// and the last version it rejected and why. It has the proxy pod's name and namespace.
// Running proxy pods without a stream are listed too, once past a grace period.
//
// +genclient
// +genclient:onlyVerbs=get,list,watch
// +genclient:noStatus
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ProxyStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Gateway the proxy serves, in the proxy's namespace.
	Gateway string `json:"gateway"`
	// Pod name of the proxy.
	Pod string `json:"pod"`
	// Node the pod runs on.
	// +optional
	Node string `json:"node,omitempty"`
	// Connected is true while the proxy holds a config stream.
	Connected bool `json:"connected"`
	// DisconnectedSince is set when the proxy holds no config stream: when its last stream
	// ended, or, for a running pod that had none, when its proxy container started. Such
	// pods are listed once they have been without a stream for a grace period (the
	// operator's --proxy-disconnect-grace), and the operator then records a Warning Event
	// ConfigStreamDisconnected on the Gateway.
	// +optional
	DisconnectedSince *metav1.Time `json:"disconnectedSince,omitempty"`
	// ConnectedSince is when the current (or last) stream opened.
	// +optional
	ConnectedSince *metav1.Time `json:"connectedSince,omitempty"`
	// LastHeartbeat is the last message received from the proxy.
	// +optional
	LastHeartbeat *metav1.Time `json:"lastHeartbeat,omitempty"`
	// AckedVersion is the last config version the proxy applied.
	// +optional
	AckedVersion string `json:"ackedVersion,omitempty"`
	// LatestVersion is the newest config version for this Gateway.
	// +optional
	LatestVersion string `json:"latestVersion,omitempty"`
	// RejectedVersion is the last config version the proxy refused.
	// +optional
	RejectedVersion string `json:"rejectedVersion,omitempty"`
	// LastError is the proxy's reason for refusing RejectedVersion.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// BuildVersion of the proxy binary.
	// +optional
	BuildVersion string `json:"buildVersion,omitempty"`
}

// ProxyStatusList is a list of ProxyStatus.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ProxyStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProxyStatus `json:"items"`
}
