package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// AgentgatewayPolicy adds behaviour that the Gateway API core does not have to a Gateway, a
// listener, a ListenerSet, a route, a route rule, a Service or an AgentgatewayBackend.
//
// A policy attaches through spec.targetRefs or spec.targetSelectors, or inline as an
// HTTPRoute ExtensionRef filter. When several policies set the same field, the more specific
// attachment wins (Gateway < listener < route < rule); between policies at the same level the
// oldest wins, then the one first in alphabetical order.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=agentgateway,shortName=agpol;agpolicy
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.spec.targetRefs[*].name`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.ancestors[0].conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type AgentgatewayPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired behaviour.
	Spec AgentgatewayPolicySpec `json:"spec"`

	// Status tells, for each Gateway the policy reaches, whether it was accepted and attached.
	// +optional
	Status gwv1.PolicyStatus `json:"status,omitempty"`
}

// AgentgatewayPolicySpec is the desired behaviour of an AgentgatewayPolicy.
//
// +kubebuilder:validation:XValidation:rule="has(self.frontend) || has(self.traffic) || has(self.backend)",message="at least one of frontend, traffic or backend must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.frontend) || (has(self.targetRefs) && self.targetRefs.all(r, r.kind in ['Gateway', 'ListenerSet'])) || (has(self.targetSelectors) && self.targetSelectors.all(s, s.kind in ['Gateway', 'ListenerSet']))",message="frontend settings apply to listeners: target only Gateways or ListenerSets"
// +kubebuilder:validation:XValidation:rule="!has(self.targetRefs) || !has(self.targetSelectors)",message="use either targetRefs or targetSelectors, not both"
type AgentgatewayPolicySpec struct {
	// TargetRefs are the objects this policy attaches to. Leave both targetRefs and
	// targetSelectors empty for a policy used only inline through an ExtensionRef filter.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TargetRefs []PolicyTargetReference `json:"targetRefs,omitempty"`

	// TargetSelectors attach this policy to every object of a kind whose labels match, in the
	// policy's namespace.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TargetSelectors []PolicyTargetSelector `json:"targetSelectors,omitempty"`

	// Frontend configures how the proxy accepts connections: TLS, HTTP and TCP settings of a
	// listener, and access logs.
	// +optional
	Frontend *FrontendPolicy `json:"frontend,omitempty"`

	// Traffic configures what happens to requests: transformation, authentication,
	// authorization, rate limits, CORS, timeouts, retries and more.
	// +optional
	Traffic *TrafficPolicy `json:"traffic,omitempty"`

	// Backend configures how the proxy connects to a backend: TLS, HTTP version, timeouts and
	// credentials.
	// +optional
	Backend *BackendPolicy `json:"backend,omitempty"`
}

// PolicyTargetReference names an object in the policy's namespace that the policy attaches to.
//
// +kubebuilder:validation:XValidation:rule="(self.kind in ['Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute'] && self.group == 'gateway.networking.k8s.io') || (self.kind == 'Service' && size(self.group) == 0) || (self.kind == 'AgentgatewayBackend' && self.group == 'agentgateway.dev')",message="group does not match kind: Gateway, ListenerSet, HTTPRoute and GRPCRoute are in gateway.networking.k8s.io, Service in the core group \"\", AgentgatewayBackend in agentgateway.dev"
// +kubebuilder:validation:XValidation:rule="!has(self.sectionName) || self.kind in ['Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute', 'Service']",message="sectionName is only valid for Gateway and ListenerSet (listener), HTTPRoute and GRPCRoute (rule) and Service (port) targets"
type PolicyTargetReference struct {
	// Group of the target: gateway.networking.k8s.io, "" for Service, or agentgateway.dev.
	// +kubebuilder:validation:Enum="";gateway.networking.k8s.io;agentgateway.dev
	Group gwv1.Group `json:"group"`

	// Kind of the target.
	// +kubebuilder:validation:Enum=Gateway;ListenerSet;HTTPRoute;GRPCRoute;Service;AgentgatewayBackend
	Kind gwv1.Kind `json:"kind"`

	// Name of the target.
	Name gwv1.ObjectName `json:"name"`

	// SectionName narrows the attachment: a listener name of a Gateway or ListenerSet, a rule
	// name of a route, or a port name of a Service.
	// +optional
	SectionName *gwv1.SectionName `json:"sectionName,omitempty"`
}

// PolicyTargetSelector attaches a policy to every object of one kind whose labels match.
type PolicyTargetSelector struct {
	// Group of the targets.
	// +kubebuilder:validation:Enum="";gateway.networking.k8s.io;agentgateway.dev
	Group gwv1.Group `json:"group"`

	// Kind of the targets.
	// +kubebuilder:validation:Enum=Gateway;ListenerSet;HTTPRoute;GRPCRoute;Service;AgentgatewayBackend
	Kind gwv1.Kind `json:"kind"`

	// MatchLabels selects targets whose labels include all of these.
	// +kubebuilder:validation:MinProperties=1
	MatchLabels map[string]string `json:"matchLabels"`
}

// FrontendPolicy configures listeners.
type FrontendPolicy struct {
	// TLS settings of HTTPS and TLS listeners.
	// +optional
	TLS *FrontendTLS `json:"tls,omitempty"`

	// HTTP settings of HTTP and HTTPS listeners.
	// +optional
	HTTP *FrontendHTTP `json:"http,omitempty"`

	// TCP settings of accepted connections.
	// +optional
	TCP *FrontendTCP `json:"tcp,omitempty"`

	// AccessLog writes one structured line per request.
	// +optional
	AccessLog *AccessLog `json:"accessLog,omitempty"`

	// Tracing records OpenTelemetry spans of the requests and exports them over OTLP.
	// +optional
	Tracing *Tracing `json:"tracing,omitempty"`
}

// TLSVersion is a TLS protocol version.
//
// +kubebuilder:validation:Enum="1.2";"1.3"
type TLSVersion string

// FrontendTLS configures TLS termination on a listener.
type FrontendTLS struct {
	// MinVersion is the lowest TLS version accepted. Defaults to 1.2.
	// +optional
	MinVersion *TLSVersion `json:"minVersion,omitempty"`

	// CipherSuites restricts the TLS 1.2 cipher suites, by their IANA names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	CipherSuites []string `json:"cipherSuites,omitempty"`

	// ALPNProtocols offered to clients, in order of preference. Defaults to h2, http/1.1.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	ALPNProtocols []string `json:"alpnProtocols,omitempty"`
}

// FrontendHTTP configures HTTP serving on a listener.
type FrontendHTTP struct {
	// MaxRequestHeadersKB bounds the total size of request headers.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	MaxRequestHeadersKB *int32 `json:"maxRequestHeadersKB,omitempty"`

	// RequestHeaderTimeout bounds how long a client may take to send request headers.
	// +optional
	RequestHeaderTimeout *Duration `json:"requestHeaderTimeout,omitempty"`

	// IdleTimeout closes keep-alive connections idle for this long.
	// +optional
	IdleTimeout *Duration `json:"idleTimeout,omitempty"`

	// HTTP2MaxConcurrentStreams bounds concurrent streams per HTTP/2 connection.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	HTTP2MaxConcurrentStreams *int32 `json:"http2MaxConcurrentStreams,omitempty"`

	// HTTP3 enables HTTP/3 (QUIC) on HTTPS listeners and advertises it with Alt-Svc.
	// +optional
	HTTP3 *bool `json:"http3,omitempty"`
}

// FrontendTCP configures accepted TCP connections.
type FrontendTCP struct {
	// Keepalive enables TCP keep-alive probes on accepted connections.
	// +optional
	Keepalive *TCPKeepalive `json:"keepalive,omitempty"`
}

// TCPKeepalive configures TCP keep-alive probes.
type TCPKeepalive struct {
	// Time idle before the first probe.
	// +optional
	Time *Duration `json:"time,omitempty"`
	// Interval between probes.
	// +optional
	Interval *Duration `json:"interval,omitempty"`
	// Probes unanswered before the connection is closed.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Probes *int32 `json:"probes,omitempty"`
}

// AccessLog configures per-request access logs.
type AccessLog struct {
	// Filter logs only requests for which this expression is true (phase: AccessLog, result bool).
	// +optional
	Filter *CELExpression `json:"filter,omitempty"`

	// Attributes are extra fields added to each line, computed by CEL (phase: AccessLog).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Attributes []AccessLogAttribute `json:"attributes,omitempty"`
}

// AccessLogAttribute is one computed access-log field.
type AccessLogAttribute struct {
	// Name of the field in the log line.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-zA-Z_][a-zA-Z0-9_.]*$`
	Name string `json:"name"`
	// Expression computes the value (any type; rendered as JSON).
	Expression CELExpression `json:"expression"`
}

// TracingProtocol is the OTLP transport of a tracing provider.
//
// +kubebuilder:validation:Enum=GRPC;HTTP
type TracingProtocol string

const (
	// TracingProtocolGRPC is OTLP over gRPC (TraceService/Export).
	TracingProtocolGRPC TracingProtocol = "GRPC"
	// TracingProtocolHTTP is OTLP over HTTP with protobuf bodies.
	TracingProtocolHTTP TracingProtocol = "HTTP"
)

// Tracing records OpenTelemetry spans of the requests of HTTP and HTTPS listeners and
// exports them over OTLP: a server span per sampled request (continuing the client's W3C
// traceparent), a client span per upstream attempt and per ext-auth call; backends receive
// the attempt's traceparent.
//
// +kubebuilder:validation:XValidation:rule="!has(self.path) || (has(self.protocol) && self.protocol == 'HTTP')",message="path is only for protocol HTTP"
// +kubebuilder:validation:XValidation:rule="!has(self.parentSamplingRate) || !has(self.parentBased) || self.parentBased",message="parentSamplingRate needs parentBased"
type Tracing struct {
	// Provider is the OTLP collector spans are exported to.
	Provider TracingProvider `json:"provider"`

	// Protocol is GRPC (default; OTLP/gRPC) or HTTP (OTLP/HTTP with protobuf).
	// +optional
	Protocol *TracingProtocol `json:"protocol,omitempty"`

	// Path of the OTLP/HTTP exports. Defaults to /v1/traces.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^?#\s]*$`
	Path *string `json:"path,omitempty"`

	// SamplingRate is the fraction of new traces recorded (and of every request when
	// parentBased is false). Defaults to 100%.
	// +optional
	SamplingRate *gwv1.Fraction `json:"samplingRate,omitempty"`

	// ParentBased follows the sampled flag of a valid incoming traceparent. Defaults to true.
	// +optional
	ParentBased *bool `json:"parentBased,omitempty"`

	// ParentSamplingRate keeps this fraction of the requests a parent sampled. Defaults to
	// 100%.
	// +optional
	ParentSamplingRate *gwv1.Fraction `json:"parentSamplingRate,omitempty"`

	// Condition traces only requests for which this expression is true (phase: Tracing,
	// result bool; the request and source are known).
	// +optional
	Condition *CELExpression `json:"condition,omitempty"`

	// ServiceName is the service.name of the spans' resource. Defaults to agentgateway.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ServiceName *string `json:"serviceName,omitempty"`

	// Attributes are added to every server span.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Attributes []TracingAttribute `json:"attributes,omitempty"`
}

// TracingProvider is an OTLP collector.
type TracingProvider struct {
	// BackendRef is the collector: a Service (with port) or an AgentgatewayBackend.
	BackendRef gwv1.BackendObjectReference `json:"backendRef"`
}

// TracingAttribute is one span attribute; exactly one of value, header and expression is set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.value) ? 1 : 0) + (has(self.header) ? 1 : 0) + (has(self.expression) ? 1 : 0) == 1",message="exactly one of value, header and expression is required"
type TracingAttribute struct {
	// Name of the attribute.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.:/-]+$`
	Name string `json:"name"`
	// Value is a literal.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Value *string `json:"value,omitempty"`
	// Header copies a request header (empty when absent).
	// +optional
	Header *gwv1.HTTPHeaderName `json:"header,omitempty"`
	// Expression computes the value (phase: Tracing, any type).
	// +optional
	Expression *CELExpression `json:"expression,omitempty"`
}

// TrafficPolicy configures the request path.
type TrafficPolicy struct {
	// Transformation sets, adds or removes request and response headers, and replaces
	// bodies, with values computed by CEL.
	// +optional
	Transformation *Transformation `json:"transformation,omitempty"`

	// ExtAuth asks an external service whether to let each request through.
	// +optional
	ExtAuth *ExtAuth `json:"extAuth,omitempty"`

	// JWTAuthentication validates JSON Web Tokens and makes their claims available to CEL.
	// +optional
	JWTAuthentication *JWTAuthentication `json:"jwtAuthentication,omitempty"`

	// APIKeyAuthentication validates API keys stored in Secrets.
	// +optional
	APIKeyAuthentication *APIKeyAuthentication `json:"apiKeyAuthentication,omitempty"`

	// BasicAuthentication validates HTTP basic credentials against an htpasswd Secret.
	// +optional
	BasicAuthentication *BasicAuthentication `json:"basicAuthentication,omitempty"`

	// Authorization allows or denies requests with CEL rules.
	// +optional
	Authorization *Authorization `json:"authorization,omitempty"`

	// MCPAuthorization decides each MCP operation (tools/call, prompts/get, resources/read)
	// of the MCP backends of the routes it applies to, with CEL rules over the mcp variable
	// (mcp.method, mcp.tool.name, mcp.tool.arguments, mcp.target) besides request, source,
	// jwt, apiKey and extauthz (phase MCPAuthorization). Tools and prompts a caller may not
	// call are left out of tools/list and prompts/list.
	// +optional
	MCPAuthorization *Authorization `json:"mcpAuthorization,omitempty"`

	// RateLimit limits request rates.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// CORS answers preflight requests and adds CORS response headers.
	// +optional
	CORS *gwv1.HTTPCORSFilter `json:"cors,omitempty"`

	// CSRF rejects state-changing cross-origin requests.
	// +optional
	CSRF *CSRF `json:"csrf,omitempty"`

	// HeaderModifiers change request and response headers with static values.
	// +optional
	HeaderModifiers *HeaderModifiers `json:"headerModifiers,omitempty"`

	// Timeouts bound the whole request and each backend attempt.
	// +optional
	Timeouts *Timeouts `json:"timeouts,omitempty"`

	// Retry retries failed backend requests, within a budget.
	// +optional
	Retry *Retry `json:"retry,omitempty"`

	// DirectResponse answers requests from the proxy without contacting a backend.
	// +optional
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`

	// SessionPersistence sends requests of one session to the same endpoint.
	// +optional
	SessionPersistence *gwv1.SessionPersistence `json:"sessionPersistence,omitempty"`

	// BodyLimits bound the size of request and response bodies.
	// +optional
	BodyLimits *BodyLimits `json:"bodyLimits,omitempty"`
}

// BodyLimits bound body sizes, in bytes.
//
// +kubebuilder:validation:XValidation:rule="has(self.request) || has(self.response)",message="set request or response"
type BodyLimits struct {
	// Request is the largest request body accepted. A request whose Content-Length is larger
	// is answered with 413 before the backend is contacted; a chunked body that grows larger
	// is cut off, answered with 413 if the backend has not answered yet, and the connection
	// closed.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Request *int64 `json:"request,omitempty"`

	// Response is the largest response body passed on. A response whose Content-Length is
	// larger is replaced by 502; a body without a length that grows larger is cut off and the
	// client connection closed (its head is already sent).
	// +optional
	// +kubebuilder:validation:Minimum=1
	Response *int64 `json:"response,omitempty"`
}

// Transformation changes requests and responses.
type Transformation struct {
	// Request is applied before the request is sent to the backend (phase: RequestHeaders;
	// RequestBody, with request.body available, when these rules set a body).
	// +optional
	Request *TransformationRules `json:"request,omitempty"`
	// Response is applied before the response is sent to the client (phase: Response).
	// +optional
	Response *TransformationRules `json:"response,omitempty"`
}

// TransformationRules are header and body changes of one direction.
type TransformationRules struct {
	// When applies these rules only if this expression is true (result bool).
	// +optional
	When *CELExpression `json:"when,omitempty"`

	// Set replaces headers with computed values (result string).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Set []HeaderTransformation `json:"set,omitempty"`

	// Add appends computed values to headers (result string).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Add []HeaderTransformation `json:"add,omitempty"`

	// Remove deletes headers by name.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	Remove []gwv1.HeaderName `json:"remove,omitempty"`

	// Body replaces the body with a computed value (result string or bytes).
	// +optional
	Body *CELExpression `json:"body,omitempty"`
}

// HeaderTransformation computes one header value.
type HeaderTransformation struct {
	// Name of the header.
	Name gwv1.HeaderName `json:"name"`
	// Value is a CEL expression returning a string.
	Value CELExpression `json:"value"`
}

// ExtAuthProtocol is the protocol spoken to an external authorization service.
//
// +kubebuilder:validation:Enum=HTTP;GRPC
type ExtAuthProtocol string

const (
	// ExtAuthProtocolHTTP forwards a copy of the request headers to an HTTP service; 2xx allows.
	ExtAuthProtocolHTTP ExtAuthProtocol = "HTTP"
	// ExtAuthProtocolGRPC speaks the Envoy ext_authz v3 gRPC protocol.
	ExtAuthProtocolGRPC ExtAuthProtocol = "GRPC"
)

// FailureMode says what to do when an external service cannot be reached.
//
// +kubebuilder:validation:Enum=Open;Closed
type FailureMode string

const (
	// FailOpen lets the request through.
	FailOpen FailureMode = "Open"
	// FailClosed rejects the request.
	FailClosed FailureMode = "Closed"
)

// ExtAuth configures external authorization.
//
// +kubebuilder:validation:XValidation:rule="self.protocol == 'HTTP' || !has(self.http)",message="http settings need protocol HTTP"
// +kubebuilder:validation:XValidation:rule="self.protocol == 'GRPC' || !has(self.grpc)",message="grpc settings need protocol GRPC"
type ExtAuth struct {
	// BackendRef is the authorization service (a Service or AgentgatewayBackend).
	BackendRef gwv1.BackendObjectReference `json:"backendRef"`

	// Protocol spoken to the service.
	Protocol ExtAuthProtocol `json:"protocol"`

	// HTTP settings, for protocol HTTP.
	// +optional
	HTTP *ExtAuthHTTP `json:"http,omitempty"`

	// GRPC settings, for protocol GRPC.
	// +optional
	GRPC *ExtAuthGRPC `json:"grpc,omitempty"`

	// IncludeBody sends up to this many bytes of the request body to the service.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1048576
	IncludeBodyBytes *int32 `json:"includeBodyBytes,omitempty"`

	// FailureMode when the service cannot be reached or times out. Defaults to Closed.
	// +optional
	FailureMode *FailureMode `json:"failureMode,omitempty"`

	// Timeout of one authorization call. Defaults to 2s.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
}

// ExtAuthHTTP configures the HTTP ext-auth protocol.
type ExtAuthHTTP struct {
	// PathPrefix is prepended to the request path when calling the service.
	// +optional
	PathPrefix *string `json:"pathPrefix,omitempty"`

	// ForwardHeaders are the request headers sent to the service (all when empty).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	ForwardHeaders []gwv1.HeaderName `json:"forwardHeaders,omitempty"`

	// AllowedUpstreamHeaders are the service's response headers copied onto the allowed request.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	AllowedUpstreamHeaders []gwv1.HeaderName `json:"allowedUpstreamHeaders,omitempty"`

	// SignInRedirectURL sends unauthenticated browser requests (401) to a sign-in page
	// instead, with the original URL in the `rd` query parameter.
	// +optional
	SignInRedirectURL *string `json:"signInRedirectURL,omitempty"`
}

// ExtAuthGRPC configures the gRPC ext-auth protocol.
type ExtAuthGRPC struct {
	// ContextExtensions are sent with every check request.
	// +optional
	ContextExtensions map[string]string `json:"contextExtensions,omitempty"`
}

// JWTAuthentication validates JSON Web Tokens.
type JWTAuthentication struct {
	// Mode says whether a token is required. Defaults to Strict.
	// +optional
	Mode *AuthMode `json:"mode,omitempty"`

	// Providers are the accepted issuers; a token valid for any of them is accepted.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Providers []JWTProvider `json:"providers"`
}

// JWTProvider is one accepted token issuer.
type JWTProvider struct {
	// Name identifies the provider in status and logs.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`

	// Issuer must equal the token's iss claim.
	// +kubebuilder:validation:MinLength=1
	Issuer string `json:"issuer"`

	// Audiences; the token's aud claim must contain one of them when set.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Audiences []string `json:"audiences,omitempty"`

	// JWKS holds the keys that sign tokens.
	JWKS JWKS `json:"jwks"`

	// ClaimsToHeaders copies claims onto request headers for the backend.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ClaimsToHeaders []ClaimToHeader `json:"claimsToHeaders,omitempty"`

	// TokenHeader is where the token is read from, with an optional "Bearer " prefix.
	// Defaults to Authorization.
	// +optional
	TokenHeader *gwv1.HeaderName `json:"tokenHeader,omitempty"`
}

// JWKS is a JSON Web Key Set, inline or fetched.
//
// +kubebuilder:validation:XValidation:rule="has(self.inline) != has(self.remote)",message="set exactly one of inline or remote"
type JWKS struct {
	// Inline is the JWKS document.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Inline *string `json:"inline,omitempty"`

	// Remote fetches the JWKS document over HTTP(S) and caches it.
	// +optional
	Remote *RemoteJWKS `json:"remote,omitempty"`
}

// RemoteJWKS fetches a JWKS document.
type RemoteJWKS struct {
	// URL of the JWKS document, fetched by the proxy.
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`

	// CacheDuration is how long a fetched document is used. Defaults to 5m.
	// +optional
	CacheDuration *Duration `json:"cacheDuration,omitempty"`
}

// ClaimToHeader copies one claim onto a request header.
type ClaimToHeader struct {
	// Claim name; nested claims with dots.
	// +kubebuilder:validation:MinLength=1
	Claim string `json:"claim"`
	// Header to set.
	Header gwv1.HeaderName `json:"header"`
}

// APIKeyAuthentication validates API keys.
type APIKeyAuthentication struct {
	// Mode says whether a key is required. Defaults to Strict.
	// +optional
	Mode *AuthMode `json:"mode,omitempty"`

	// SecretRefs are Secrets whose data values are accepted keys (the data key names the client).
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	SecretRefs []LocalObjectReference `json:"secretRefs"`

	// Header the key is read from. Defaults to Authorization with an optional "Bearer " prefix.
	// +optional
	Header *gwv1.HeaderName `json:"header,omitempty"`
}

// BasicAuthentication validates HTTP basic credentials.
type BasicAuthentication struct {
	// Mode says whether credentials are required. Defaults to Strict.
	// +optional
	Mode *AuthMode `json:"mode,omitempty"`

	// SecretRef is a Secret whose `.htpasswd` key holds bcrypt or SHA htpasswd lines.
	SecretRef LocalObjectReference `json:"secretRef"`

	// Realm shown to browsers.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Realm *string `json:"realm,omitempty"`
}

// AuthorizationAction is what an authorization policy does when its rules match.
//
// +kubebuilder:validation:Enum=Allow;Deny;Require
type AuthorizationAction string

const (
	// AuthorizationAllow allows requests that match any rule, and denies the rest.
	AuthorizationAllow AuthorizationAction = "Allow"
	// AuthorizationDeny denies requests that match any rule.
	AuthorizationDeny AuthorizationAction = "Deny"
	// AuthorizationRequire denies requests that do not match every rule.
	AuthorizationRequire AuthorizationAction = "Require"
)

// Authorization allows or denies requests with CEL rules (phase: Authorization, result bool).
type Authorization struct {
	// Action taken on rule matches.
	Action AuthorizationAction `json:"action"`

	// Rules are CEL expressions returning bool.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Rules []CELExpression `json:"rules"`
}

// RateLimit limits request rates.
//
// +kubebuilder:validation:XValidation:rule="has(self.local) || has(self.global)",message="set local or global limits"
type RateLimit struct {
	// Local limits are enforced by each proxy replica on its own.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Local []LocalRateLimit `json:"local,omitempty"`

	// Global limits are kept by a rate-limit service that every replica asks, after the
	// local limits.
	// +optional
	Global *GlobalRateLimit `json:"global,omitempty"`
}

// LocalRateLimit is a token bucket, per route or per computed key.
type LocalRateLimit struct {
	// Requests allowed per unit.
	// +kubebuilder:validation:Minimum=1
	Requests int32 `json:"requests"`

	// Unit of time the request count refers to.
	// +kubebuilder:validation:Enum=Second;Minute;Hour
	Unit string `json:"unit"`

	// Burst is the bucket size. Defaults to requests.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Burst *int32 `json:"burst,omitempty"`

	// Key gives each distinct value its own bucket (phase: RateLimitDescriptor, result string), for
	// example `request.headers["x-user"]`. Without a key, one bucket per route.
	// +optional
	Key *CELExpression `json:"key,omitempty"`
}

// CSRF rejects cross-origin state-changing requests.
type CSRF struct {
	// AdditionalOrigins are origins accepted besides the request's own host.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	AdditionalOrigins []string `json:"additionalOrigins,omitempty"`
}

// HeaderModifiers change headers with static values.
type HeaderModifiers struct {
	// Request header changes.
	// +optional
	Request *gwv1.HTTPHeaderFilter `json:"request,omitempty"`
	// Response header changes.
	// +optional
	Response *gwv1.HTTPHeaderFilter `json:"response,omitempty"`
}

// Timeouts bound request durations.
type Timeouts struct {
	// Request bounds the whole request, retries included; 504 when exceeded.
	// +optional
	Request *Duration `json:"request,omitempty"`
	// BackendRequest bounds one attempt to a backend.
	// +optional
	BackendRequest *Duration `json:"backendRequest,omitempty"`
}

// Retry retries failed backend requests.
type Retry struct {
	// Attempts is the number of retries after the first try.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Attempts int32 `json:"attempts"`

	// Codes are the response status codes that are retried (connection errors always are).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=400
	// +kubebuilder:validation:items:Maximum=599
	Codes []int32 `json:"codes,omitempty"`

	// Backoff is the base delay between attempts, doubled each time with jitter.
	// +optional
	Backoff *Duration `json:"backoff,omitempty"`

	// Budget caps retries as a share of active requests, so retries cannot multiply load on
	// a failing backend.
	// +optional
	Budget *RetryBudget `json:"budget,omitempty"`
}

// RetryBudget caps retries (GEP-3388).
type RetryBudget struct {
	// Percent of active requests that may be retries.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`

	// Interval over which requests are counted. Defaults to 10s.
	// +optional
	Interval *Duration `json:"interval,omitempty"`

	// MinRetriesPerSecond are always allowed, so low traffic can still retry.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinRetriesPerSecond *int32 `json:"minRetriesPerSecond,omitempty"`
}

// DirectResponse answers from the proxy.
type DirectResponse struct {
	// Status code of the response.
	// +kubebuilder:validation:Minimum=200
	// +kubebuilder:validation:Maximum=599
	Status int32 `json:"status"`

	// Body of the response.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Body *string `json:"body,omitempty"`
}

// BackendPolicy configures connections to backends.
type BackendPolicy struct {
	// TLS originates TLS to the backend.
	// +optional
	TLS *BackendTLS `json:"tls,omitempty"`

	// HTTP settings towards the backend.
	// +optional
	HTTP *BackendHTTP `json:"http,omitempty"`

	// TCP settings towards the backend.
	// +optional
	TCP *BackendTCP `json:"tcp,omitempty"`

	// Auth adds credentials to requests sent to the backend.
	// +optional
	Auth *BackendAuth `json:"auth,omitempty"`

	// HealthCheck actively probes every endpoint of the backend; endpoints that fail get no
	// traffic (unless all fail). Health is kept per backend (Service port), shared by all routes.
	// +optional
	HealthCheck *BackendHealthCheck `json:"healthCheck,omitempty"`

	// OutlierDetection ejects endpoints after consecutive failures. Unset keeps the defaults:
	// 5 consecutive 502/503/504 or 1 connect failure eject an endpoint for 5s, at most 50% of
	// the endpoints at once.
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`

	// CircuitBreakers cap the load sent to the backend; a request over a limit is answered 503
	// with the x-agentgateway-overflow header naming the limit.
	// +optional
	CircuitBreakers *CircuitBreakers `json:"circuitBreakers,omitempty"`

	// ConnectRetries is how many other endpoints a request is sent to when connecting to an
	// endpoint fails, or the endpoint resets or closes the connection before any byte of the
	// response (an endpoint that went away in a rollout, say). After a reset on a new
	// connection only idempotent requests are sent again. Defaults to 2; 0 disables.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	ConnectRetries *int32 `json:"connectRetries,omitempty"`
}

// BackendHealthCheck is an active health check: exactly one of http and tcp.
//
// +kubebuilder:validation:XValidation:rule="has(self.http) != has(self.tcp)",message="set exactly one of http and tcp"
type BackendHealthCheck struct {
	// Interval between checks of one endpoint. Defaults to 5s.
	// +optional
	Interval *Duration `json:"interval,omitempty"`

	// Timeout of one check; must not exceed the interval. Defaults to 1s.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`

	// HealthyThreshold is the number of consecutive passed checks that make an unhealthy
	// endpoint healthy again. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	HealthyThreshold *int32 `json:"healthyThreshold,omitempty"`

	// UnhealthyThreshold is the number of consecutive failed checks that make an endpoint
	// unhealthy. Defaults to 3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	UnhealthyThreshold *int32 `json:"unhealthyThreshold,omitempty"`

	// HTTP checks send a GET request and expect one of the expected statuses.
	// +optional
	HTTP *HTTPHealthCheck `json:"http,omitempty"`

	// TCP checks pass when the endpoint accepts a connection.
	// +optional
	TCP *TCPHealthCheck `json:"tcp,omitempty"`
}

// HTTPHealthCheck is a GET request to each endpoint, over the backend's protocol and TLS.
type HTTPHealthCheck struct {
	// Path requested.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s\x00-\x1f\x7f]*$`
	Path string `json:"path"`

	// Host header sent; defaults to the endpoint address.
	// +optional
	Host *gwv1.PreciseHostname `json:"host,omitempty"`

	// ExpectedStatuses pass the check. Defaults to 200-399.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ExpectedStatuses []StatusRange `json:"expectedStatuses,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
//
// +kubebuilder:validation:XValidation:rule="!has(self.end) || self.end >= self.start",message="end must not be below start"
type StatusRange struct {
	// Start of the range.
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	Start int32 `json:"start"`

	// End of the range, inclusive. Defaults to start.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	End *int32 `json:"end,omitempty"`
}

// TCPHealthCheck passes when the endpoint accepts a TCP connection.
type TCPHealthCheck struct{}

// OutlierDetection ejects endpoints after consecutive failures. An ejected endpoint gets no
// traffic for the base ejection time times the number of its recent ejections (each interval
// after an ejection ended forgets one), up to the max ejection time.
type OutlierDetection struct {
	// Consecutive5xx responses (500-599) that eject an endpoint. Unset or 0 disables.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1048576
	Consecutive5xx *int32 `json:"consecutive5xx,omitempty"`

	// ConsecutiveGatewayErrors (502, 503, 504) that eject an endpoint. Defaults to 5; 0 disables.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1048576
	ConsecutiveGatewayErrors *int32 `json:"consecutiveGatewayErrors,omitempty"`

	// ConsecutiveLocalOriginFailures (failed connects) that eject an endpoint. Defaults to 1; 0
	// disables.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1048576
	ConsecutiveLocalOriginFailures *int32 `json:"consecutiveLocalOriginFailures,omitempty"`

	// Interval after which an endpoint's ejection count drops by one. Defaults to 10s.
	// +optional
	Interval *Duration `json:"interval,omitempty"`

	// BaseEjectionTime is the length of a first ejection. Defaults to 5s.
	// +optional
	BaseEjectionTime *Duration `json:"baseEjectionTime,omitempty"`

	// MaxEjectionTime caps the growing ejection time. Defaults to 300s (or the base ejection
	// time, if larger).
	// +optional
	MaxEjectionTime *Duration `json:"maxEjectionTime,omitempty"`

	// MaxEjectionPercent of the endpoints may be ejected at once; one endpoint of several may
	// always be ejected, 0 disables ejection. Defaults to 50.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxEjectionPercent *int32 `json:"maxEjectionPercent,omitempty"`
}

// CircuitBreakers cap the load on a backend. Unset limits are not enforced.
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxPendingRequests) || has(self.maxConnections)",message="maxPendingRequests requires maxConnections"
type CircuitBreakers struct {
	// MaxConnections open to the backend's endpoints at once.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1073741824
	MaxConnections *int32 `json:"maxConnections,omitempty"`

	// MaxPendingRequests wait for a connection when maxConnections are open; more are answered
	// 503. Defaults to 0 (none wait).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1073741824
	MaxPendingRequests *int32 `json:"maxPendingRequests,omitempty"`

	// MaxRequests in flight to the backend at once.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1073741824
	MaxRequests *int32 `json:"maxRequests,omitempty"`

	// MaxRetries in flight to the backend at once; further retries are not made.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1073741824
	MaxRetries *int32 `json:"maxRetries,omitempty"`
}

// BackendTLS configures TLS to a backend.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.insecureSkipVerify) && self.insecureSkipVerify) || (!has(self.caCertificateRefs) && !has(self.subjectAltNames))",message="insecureSkipVerify cannot be combined with caCertificateRefs or subjectAltNames"
type BackendTLS struct {
	// MTLSCertificateRef is a kubernetes.io/tls Secret presented as the client certificate.
	// +optional
	MTLSCertificateRef *LocalObjectReference `json:"mtlsCertificateRef,omitempty"`

	// CACertificateRefs are ConfigMaps or Secrets with a `ca.crt` key used to verify the
	// backend. Without them, the system roots are used.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	CACertificateRefs []LocalTypedObjectReference `json:"caCertificateRefs,omitempty"`

	// SNI sent to the backend. Defaults to the backend's hostname: <service>.<namespace>.svc for
	// a Service, the host of an AgentgatewayBackend.
	// +optional
	SNI *gwv1.PreciseHostname `json:"sni,omitempty"`

	// SubjectAltNames accepted in the backend certificate (any one matches).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`

	// ALPNProtocols offered to the backend.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	ALPNProtocols []string `json:"alpnProtocols,omitempty"`

	// InsecureSkipVerify accepts any backend certificate. For testing only.
	// +optional
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
}

// BackendHTTPVersion is the HTTP version spoken to a backend.
//
// +kubebuilder:validation:Enum=HTTP1;HTTP2
type BackendHTTPVersion string

// BackendHTTP configures HTTP towards a backend.
type BackendHTTP struct {
	// Version spoken to the backend; defaults to the Service port's appProtocol, then HTTP1.
	// +optional
	Version *BackendHTTPVersion `json:"version,omitempty"`
}

// BackendTCP configures TCP towards a backend.
type BackendTCP struct {
	// ConnectTimeout bounds connection set-up. Defaults to 10s.
	// +optional
	ConnectTimeout *Duration `json:"connectTimeout,omitempty"`

	// Keepalive sets TCP keep-alive probes on backend connections (unset: probes after 30s
	// idle). Not for TCP backends of L4 routes.
	// +optional
	Keepalive *TCPKeepalive `json:"keepalive,omitempty"`
}

// BackendAuth adds credentials to backend requests. Without it the client's own
// Authorization header, if any, is forwarded unchanged.
type BackendAuth struct {
	// SecretRef is a Secret in the policy's namespace whose `Authorization` key is sent as the
	// Authorization header of every request to the backend, replacing the client's.
	SecretRef LocalObjectReference `json:"secretRef"`
}

// AgentgatewayPolicyList is a list of AgentgatewayPolicy.
//
// +kubebuilder:object:root=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type AgentgatewayPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentgatewayPolicy `json:"items"`
}
