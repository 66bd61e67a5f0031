package config

import (
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
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

// AccessLog writes one structured line (slog, at Info, message "access")
// per HTTP request a listener serves, whatever the runtime's global
// access-log option says.
type AccessLog struct {
	// Filter, a CEL condition (phase AccessLog), limits the lines to the
	// requests for which it is true; empty logs every request. A filter
	// that fails to evaluate logs nothing.
	Filter string `json:"filter,omitempty"`
	// Attributes are extra fields computed by CEL (phase AccessLog, any
	// result), under the line's "attributes" group.
	Attributes []AccessLogAttribute `json:"attributes,omitempty"`
}

// AccessLogAttribute is one computed access-log field.
type AccessLogAttribute struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// maxAccessLogAttributes bounds the attributes of one access log.
const maxAccessLogAttributes = 32

func (v *validator) accessLog(a *AccessLog) {
	if a == nil {
		return
	}
	if a.Filter != "" {
		if _, err := cel.Compile(cel.PhaseAccessLog, cel.KindCondition, a.Filter); err != nil {
			v.addf(".accessLog.filter", "%v", err)
		}
	}
	if len(a.Attributes) > maxAccessLogAttributes {
		v.addf(".accessLog.attributes", "at most %d attributes, got %d", maxAccessLogAttributes, len(a.Attributes))
	}
	seen := map[string]bool{}
	for i, at := range a.Attributes {
		n := v.in(".accessLog.attributes", i)
		switch {
		case at.Name == "":
			v.addf(".name", "must not be empty")
		case seen[at.Name]:
			v.addf(".name", "duplicate attribute %q", at.Name)
		}
		seen[at.Name] = true
		if _, err := cel.Compile(cel.PhaseAccessLog, cel.KindAny, at.Expression); err != nil {
			v.addf(".expression", "%v", err)
		}
		v.out(n)
	}
}

func (v *validator) listenerAccessLog(b *Bind, l *Listener) {
	if l.AccessLog == nil {
		return
	}
	if b.Protocol != ProtocolHTTP && b.Protocol != ProtocolHTTPS {
		v.addf(".accessLog", "only HTTP and HTTPS listeners have access logs")
	}
	v.accessLog(l.AccessLog)
}
