package config

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// BodyLimits bound the size of request and response bodies, in bytes; 0
// means no limit. A request whose Content-Length is larger than Request
// is answered with 413 before the backend is contacted; a chunked body
// that grows larger is cut off, answered with 413 (unless the backend has
// answered already) and its connection closed. A response whose
// Content-Length is larger than Response is replaced by 502; a body
// without a length that grows larger is cut off and the client
// connection closed.
type BodyLimits struct {
	Request  int64 `json:"request,omitempty"`
	Response int64 `json:"response,omitempty"`
}

// BackendAuth adds credentials to every request sent to a backend.
type BackendAuth struct {
	// Authorization replaces the client's Authorization header. Secret:
	// redacted in config dumps.
	Authorization string `json:"authorization"`
}

func (v *validator) bodyLimits(b *BodyLimits) {
	if b == nil {
		return
	}
	if b.Request < 0 || b.Response < 0 {
		v.addf(".bodyLimits", "limits must not be negative")
	}
	if b.Request == 0 && b.Response == 0 {
		v.addf(".bodyLimits", "set request or response")
	}
}

func (v *validator) backendAuth(b *Backend) {
	a := b.Auth
	if a == nil {
		return
	}
	if b.Protocol == BackendTCP {
		v.addf(".auth", "only for HTTP backends")
	}
	// The value is secret: the messages never quote it.
	if strings.TrimSpace(a.Authorization) == "" {
		v.addf(".auth.authorization", "must not be empty")
	} else if !httpguts.ValidHeaderFieldValue(a.Authorization) {
		v.addf(".auth.authorization", "is not a valid header value (control characters or a line break)")
	}
}
