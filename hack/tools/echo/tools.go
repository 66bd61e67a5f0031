//go:build tools

// Package tools pins the echo-basic server so `go build sigs.k8s.io/gateway-api/conformance/echo-basic`
// resolves from this module's go.sum.
package tools

import _ "sigs.k8s.io/gateway-api/conformance/echo-basic"
