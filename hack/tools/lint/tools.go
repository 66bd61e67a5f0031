//go:build tools

// Package tools pins golangci-lint so `go build github.com/golangci/golangci-lint/v2/cmd/golangci-lint`
// resolves from this module's go.sum.
package tools

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
