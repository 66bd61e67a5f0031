// Package conformance runs the unmodified upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance v1.7.0) against the cluster named by KUBECONFIG.
// See conformance_test.go and hack/conformance.sh.
package conformance
