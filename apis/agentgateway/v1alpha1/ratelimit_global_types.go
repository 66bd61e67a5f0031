package v1alpha1

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// RateLimitFailureMode says what happens to a request when the rate-limit service cannot be
// reached, fails or times out.
//
// +kubebuilder:validation:Enum=Allow;Deny
type RateLimitFailureMode string

const (
	// RateLimitFailureAllow lets the request through.
	RateLimitFailureAllow RateLimitFailureMode = "Allow"
	// RateLimitFailureDeny answers 503.
	RateLimitFailureDeny RateLimitFailureMode = "Deny"
)

// GlobalRateLimit asks a rate-limit service speaking the Envoy rate-limit protocol (gRPC
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, as github.com/envoyproxy/ratelimit
// does) whether a request is within limits shared by every proxy replica. The service's own
// configuration, for the domain, sets the limits of each descriptor. A request over a limit is
// answered 429 with the response headers the service returns (X-RateLimit-* or RateLimit-*,
// as the service is configured) and a Retry-After.
type GlobalRateLimit struct {
	// BackendRef is the rate-limit service (a Service or AgentgatewayBackend), spoken to with
	// gRPC over HTTP/2: over TLS when a BackendTLSPolicy or the backend's own TLS settings ask
	// for it, cleartext otherwise.
	BackendRef gwv1.BackendObjectReference `json:"backendRef"`

	// Domain names the service's configuration the descriptors are looked up in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Domain string `json:"domain"`

	// Descriptors are sent in one call; the request is over the limit when any of them is.
	// A descriptor one of whose entry values fails to evaluate or is empty is not sent, and a
	// request left with no descriptor is not limited.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Descriptors []GlobalRateLimitDescriptor `json:"descriptors"`

	// Timeout of one call to the service. Defaults to 1s.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`

	// FailureMode when the service cannot be reached, fails or times out. Defaults to Allow.
	// +optional
	FailureMode *RateLimitFailureMode `json:"failureMode,omitempty"`
}

// GlobalRateLimitDescriptor is one descriptor: an ordered list of entries.
type GlobalRateLimitDescriptor struct {
	// Entries of the descriptor, in order.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Entries []GlobalRateLimitDescriptorEntry `json:"entries"`
}

// GlobalRateLimitDescriptorEntry is one key of a descriptor and how its value is computed.
type GlobalRateLimitDescriptorEntry struct {
	// Key of the entry, as in the service's configuration.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Key string `json:"key"`

	// Value is computed per request (phase: RateLimitDescriptor, result string), for example
	// `request.headers["x-tenant"]` or a constant such as `"all"`.
	Value CELExpression `json:"value"`
}
