package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
)

// TracingProtocol is how spans are exported.
type TracingProtocol string

const (
	// TracingGRPC is OTLP over gRPC (TraceService/Export), the default.
	TracingGRPC TracingProtocol = "grpc"
	// TracingHTTP is OTLP over HTTP with protobuf bodies (POST Path).
	TracingHTTP TracingProtocol = "http"
)

// Tracing records spans for the HTTP requests of a listener and exports
// them over OTLP: a server span per sampled request, a client span per
// upstream attempt (retries show as several) and per ext-auth call. The
// proxy continues the client's W3C trace context (traceparent,
// tracestate) and sends the attempt's context to the backend.
type Tracing struct {
	// Backend names the collector in Backends (its endpoints, TLS and
	// connection settings are used); or Address gives it as host:port.
	// Exactly one is required.
	Backend string `json:"backend,omitempty"`
	Address string `json:"address,omitempty"`
	// Protocol is grpc (default) or http.
	Protocol TracingProtocol `json:"protocol,omitempty"`
	// Path is the OTLP/HTTP path (default /v1/traces); http only.
	Path string `json:"path,omitempty"`
	// Headers are sent with every export (gRPC metadata or HTTP
	// headers), for example credentials of the collector.
	Headers []TracingHeader `json:"headers,omitempty"`
	// ServiceName is the resource's service.name (default agentgateway).
	ServiceName string `json:"serviceName,omitempty"`
	// SpanName names the server spans (default: the request method).
	SpanName string `json:"spanName,omitempty"`
	// SamplingRate is the fraction (0 to 1, default 1) of new traces
	// recorded, and of all requests when ParentBased is false.
	SamplingRate *float64 `json:"samplingRate,omitempty"`
	// ParentBased (default true) follows the sampled flag of a valid
	// incoming traceparent, of which ParentSamplingRate (0 to 1, default
	// 1) are kept.
	ParentBased        *bool    `json:"parentBased,omitempty"`
	ParentSamplingRate *float64 `json:"parentSamplingRate,omitempty"`
	// Condition, a CEL condition (phase Tracing), must also be true for a
	// request to be traced; one that fails to evaluate traces nothing.
	Condition string `json:"condition,omitempty"`
	// Attributes are added to every server span.
	Attributes []TracingAttribute `json:"attributes,omitempty"`
	// QueueSize bounds the finished spans waiting for export (default
	// 2048; more are dropped and counted). BatchSize is the most spans per
	// export (default 512), BatchInterval the longest a span waits
	// (default 1s).
	QueueSize     int       `json:"queueSize,omitempty"`
	BatchSize     int       `json:"batchSize,omitempty"`
	BatchInterval *Duration `json:"batchInterval,omitempty"`
}

// TracingHeader is one header of the exports.
type TracingHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TracingAttribute is one span attribute; exactly one source is set.
type TracingAttribute struct {
	Name string `json:"name"`
	// Value is a literal.
	Value string `json:"value,omitempty"`
	// Header copies a request header (empty when absent).
	Header string `json:"header,omitempty"`
	// Attribute copies one of the server span's semantic-convention
	// attributes (TracingSpanAttributes).
	Attribute string `json:"attribute,omitempty"`
	// Expression is CEL (phase Tracing, any result).
	Expression string `json:"expression,omitempty"`
}

// TracingSpanAttributes are the OpenTelemetry HTTP semantic-convention
// attributes of a server span, which TracingAttribute.Attribute can copy.
var TracingSpanAttributes = []string{
	"http.request.method", "url.path", "url.query", "url.scheme", "server.address", "server.port",
	"client.address", "user_agent.original", "network.protocol.version",
	"http.response.status_code",
}

const (
	maxTracingAttributes = 32
	maxTracingHeaders    = 16
	maxTracingQueue      = 1 << 16
)

var attrNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:/-]{1,256}$`)

func (v *validator) listenerTracing(b *Bind, l *Listener) {
	t := l.Tracing
	if t == nil {
		return
	}
	if b.Protocol != ProtocolHTTP && b.Protocol != ProtocolHTTPS {
		v.addf(".tracing", "only HTTP and HTTPS listeners are traced")
	}
	switch {
	case (t.Backend == "") == (t.Address == ""):
		v.addf(".tracing", "exactly one of backend and address is required")
	case t.Backend != "":
		if be := v.backend(t.Backend); be == nil {
			v.addf(".tracing.backend", "backend %q is not defined", t.Backend)
		} else if be.Protocol == BackendTCP {
			v.addf(".tracing.backend", "backend %q is a TCP backend; an OTLP collector needs an HTTP or gRPC backend", t.Backend)
		}
	default:
		host, port, err := net.SplitHostPort(t.Address)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			v.addf(".tracing.address", "must be host:port with a port 1-65535, got %q", t.Address)
		}
	}
	switch t.Protocol {
	case "", TracingGRPC:
		if t.Path != "" {
			v.addf(".tracing.path", "only for protocol http")
		}
	case TracingHTTP:
		if t.Path != "" && (!strings.HasPrefix(t.Path, "/") || strings.ContainsAny(t.Path, "?# \t")) {
			v.addf(".tracing.path", "must be an absolute path without query, got %q", t.Path)
		}
	default:
		v.addf(".tracing.protocol", "must be grpc or http, got %q", t.Protocol)
	}
	if len(t.Headers) > maxTracingHeaders {
		v.addf(".tracing.headers", "at most %d headers, got %d", maxTracingHeaders, len(t.Headers))
	}
	for i, h := range t.Headers {
		if !httpguts.ValidHeaderFieldName(h.Name) {
			v.addAt(".tracing.headers", i, "name %q is not a valid header name", h.Name)
		}
		if !httpguts.ValidHeaderFieldValue(h.Value) {
			v.addAt(".tracing.headers", i, "value of %q is not a valid header value", h.Name)
		}
	}
	ratio := func(sub string, r *float64) {
		if r != nil && !(*r >= 0 && *r <= 1) {
			v.addf(sub, "must be between 0 and 1, got %v", *r)
		}
	}
	ratio(".tracing.samplingRate", t.SamplingRate)
	ratio(".tracing.parentSamplingRate", t.ParentSamplingRate)
	if t.ParentSamplingRate != nil && t.ParentBased != nil && !*t.ParentBased {
		v.addf(".tracing.parentSamplingRate", "only with parentBased")
	}
	if t.Condition != "" {
		if _, err := cel.Compile(cel.PhaseTracing, cel.KindCondition, t.Condition); err != nil {
			v.addf(".tracing.condition", "%v", err)
		}
	}
	if t.QueueSize < 0 || t.QueueSize > maxTracingQueue {
		v.addf(".tracing.queueSize", "must be between 1 and %d, got %d", maxTracingQueue, t.QueueSize)
	}
	if t.BatchSize < 0 || t.BatchSize > maxTracingQueue {
		v.addf(".tracing.batchSize", "must be between 1 and %d, got %d", maxTracingQueue, t.BatchSize)
	}
	if t.BatchInterval != nil && t.BatchInterval.Duration <= 0 {
		v.addf(".tracing.batchInterval", "must be positive")
	}
	if len(t.Attributes) > maxTracingAttributes {
		v.addf(".tracing.attributes", "at most %d attributes, got %d", maxTracingAttributes, len(t.Attributes))
	}
	seen := map[string]bool{}
	for i, a := range t.Attributes {
		n := v.in(".tracing.attributes", i)
		switch {
		case !attrNameRE.MatchString(a.Name):
			v.addf(".name", "must be 1-256 characters of letters, digits and _.:/-, got %q", a.Name)
		case seen[a.Name]:
			v.addf(".name", "duplicate attribute %q", a.Name)
		}
		seen[a.Name] = true
		sources := 0
		if a.Value != "" {
			sources++
		}
		if a.Header != "" {
			sources++
			if !httpguts.ValidHeaderFieldName(a.Header) {
				v.addf(".header", "%q is not a valid header name", a.Header)
			}
		}
		if a.Attribute != "" {
			sources++
			if !knownSpanAttribute(a.Attribute) {
				v.addf(".attribute", "%q is not an attribute of the server span (one of %s)", a.Attribute, strings.Join(TracingSpanAttributes, ", "))
			}
		}
		if a.Expression != "" {
			sources++
			if _, err := cel.Compile(cel.PhaseTracing, cel.KindAny, a.Expression); err != nil {
				v.addf(".expression", "%v", err)
			}
		}
		if sources != 1 {
			v.addf("", "exactly one of value, header, attribute and expression is required")
		}
		v.out(n)
	}
}

func knownSpanAttribute(k string) bool {
	for _, a := range TracingSpanAttributes {
		if a == k {
			return true
		}
	}
	return false
}
