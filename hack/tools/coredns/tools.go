//go:build tools

// Package tools pins CoreDNS so `go build github.com/coredns/coredns` resolves from this module's go.sum.
package tools

import _ "github.com/coredns/coredns"
