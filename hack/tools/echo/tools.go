//go:build tools

// Package tools pins the conformance echo server so
// `go build sigs.k8s.io/gateway-api-conformance-images/echo-basic` resolves from this module's go.sum.
package tools

import _ "sigs.k8s.io/gateway-api-conformance-images/echo-basic"
