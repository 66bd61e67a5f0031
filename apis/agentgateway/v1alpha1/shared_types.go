package v1alpha1

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// CELExpression is a Common Expression Language expression. Which variables it may use and
// what it must return depend on the field that holds it; proxy/cel documents each phase.
// Expressions are compiled and type-checked at admission, so a typo such as
// `request.hedaers` is rejected by `kubectl apply`.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=4096
type CELExpression string

// LocalObjectReference names an object in the policy's own namespace.
type LocalObjectReference struct {
	// Name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// LocalTypedObjectReference names an object of the given kind in the policy's own namespace.
type LocalTypedObjectReference struct {
	// Kind of the referenced object.
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	Kind string `json:"kind"`
	// Name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Duration is a Gateway API duration string such as "1s", "500ms" or "1h30m".
type Duration = gwv1.Duration

// AuthMode says what happens to a request without valid credentials.
//
// +kubebuilder:validation:Enum=Strict;Optional
type AuthMode string

const (
	// AuthModeStrict rejects requests without valid credentials.
	AuthModeStrict AuthMode = "Strict"
	// AuthModeOptional lets requests without credentials through, but rejects invalid ones.
	AuthModeOptional AuthMode = "Optional"
)
