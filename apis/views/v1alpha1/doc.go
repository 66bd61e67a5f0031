// Package v1alpha1 holds the read-only views served by the operator's aggregated API at
// views.agentgateway.dev/v1alpha1: EffectiveConfig (what each Gateway's proxies run, with
// every policy merged) and ProxyStatus (each connected proxy and the config it acknowledged).
//
// These objects are computed from the operator's in-memory snapshots; they are never stored,
// and secret material (keys, tokens, passwords) never appears in them.
//
// +k8s:deepcopy-gen=package
// +k8s:openapi-gen=true
// +groupName=views.agentgateway.dev
package v1alpha1
