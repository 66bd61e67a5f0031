package config

// TrafficPolicy is the effective traffic section of the AgentgatewayPolicies
// that apply to a rule, already merged by the operator (Gateway < Listener
// < Route < Rule, the more specific winning; the merge is described in
// operator/translate's package doc). Sections the proxy cannot enforce yet
// are absent here; the operator fails such rules closed.
type TrafficPolicy struct {
	// JWTAuthentication validates bearer JWTs (401); the claims are the
	// CEL variable jwt.
	JWTAuthentication *JWTAuthentication `json:"jwtAuthentication,omitempty"`
	// APIKeyAuthentication checks an API key (401 when missing or wrong).
	// Runs first, with BasicAuthentication; the matched key is the CEL
	// variable apiKey.
	APIKeyAuthentication *APIKeyAuthentication `json:"apiKeyAuthentication,omitempty"`
	// BasicAuthentication checks HTTP basic credentials (401).
	BasicAuthentication *BasicAuthentication `json:"basicAuthentication,omitempty"`
	// CSRF rejects cross-origin state-changing requests (403).
	CSRF *CSRF `json:"csrf,omitempty"`
	// ExtAuth asks an external HTTP service, after authentication and
	// CSRF and before Authorization (whose rules can read extauthz).
	ExtAuth *ExtAuth `json:"extAuth,omitempty"`
	// Transformation rewrites headers and bodies with CEL after all
	// checks, before the rule's own filters.
	Transformation *Transformation `json:"transformation,omitempty"`
	// Authorization allows or denies requests with CEL rules (403 on
	// denial). Runs after authentication, before rate limiting and before
	// the rule's filters.
	Authorization *Authorization `json:"authorization,omitempty"`
	// MCPAuthorization decides each MCP operation of the rule's MCP
	// backends with CEL rules of phase MCPAuthorization (the mcp variable:
	// method, tool name and arguments, target): a refused tools/call,
	// prompts/get or resources/read gets a JSON-RPC error, and tools/list
	// and prompts/list leave out what the caller may not call. It has no
	// effect on the rule's other backends.
	MCPAuthorization *Authorization `json:"mcpAuthorization,omitempty"`
	// RateLimit limits request rates per proxy replica and across
	// replicas (429 when over a limit).
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// BodyLimits bound request (413) and response (502) body sizes.
	BodyLimits *BodyLimits `json:"bodyLimits,omitempty"`
}

// AuthorizationAction says how Authorization rules decide.
type AuthorizationAction string

const (
	// AuthorizationAllow allows requests matching any rule; others get 403.
	AuthorizationAllow AuthorizationAction = "Allow"
	// AuthorizationDeny denies (403) requests matching any rule.
	AuthorizationDeny AuthorizationAction = "Deny"
	// AuthorizationRequire denies (403) requests not matching every rule.
	AuthorizationRequire AuthorizationAction = "Require"
)

// Authorization is a list of CEL conditions (phase Authorization, result
// bool; see package proxy/cel for the variables). A rule that fails to
// evaluate counts as not matching for Allow and Require and as matching
// for Deny: errors fail closed.
type Authorization struct {
	Action AuthorizationAction `json:"action"`
	Rules  []string            `json:"rules"`
}

// RateLimit holds local (per replica) token buckets, each of which must
// give a request a token, and a global limit shared by every replica.
type RateLimit struct {
	Local  []LocalRateLimit `json:"local,omitempty"`
	Global *GlobalRateLimit `json:"global,omitempty"` // ratelimit.go
}

// RateLimitUnit is the period Requests refers to.
type RateLimitUnit string

// The rate limit periods.
const (
	RateLimitSecond RateLimitUnit = "Second"
	RateLimitMinute RateLimitUnit = "Minute"
	RateLimitHour   RateLimitUnit = "Hour"
)

// LocalRateLimit is a token bucket refilled at Requests per Unit.
type LocalRateLimit struct {
	// Requests per Unit, at least 1.
	Requests int `json:"requests"`
	// Unit is Second, Minute or Hour.
	Unit RateLimitUnit `json:"unit"`
	// Burst is the bucket size; nil means Requests.
	Burst *int `json:"burst,omitempty"`
	// Key, a CEL expression (phase RateLimitDescriptor, result string),
	// gives each distinct value its own bucket; empty means one bucket for
	// the rule. Buckets survive config reloads that leave the limit
	// unchanged.
	Key string `json:"key,omitempty"`
}

// AuthMode says what happens to a request without valid credentials.
type AuthMode string

const (
	// AuthModeStrict (default) rejects requests without valid credentials.
	AuthModeStrict AuthMode = "Strict"
	// AuthModeOptional lets requests without credentials through but
	// rejects invalid ones.
	AuthModeOptional AuthMode = "Optional"
)

// APIKeyAuthentication accepts requests carrying one of Keys.
type APIKeyAuthentication struct {
	// Mode defaults to Strict.
	Mode AuthMode `json:"mode,omitempty"`
	// Keys are the accepted keys (from the referenced Secrets). Key values
	// are secret: Redacted hides them.
	Keys []APIKey `json:"keys"`
	// Header the key is read from; default Authorization, where a
	// "Bearer " prefix is optional.
	Header string `json:"header,omitempty"`
}

// APIKey is one accepted key.
type APIKey struct {
	// Name identifies the client (the Secret data key); it is apiKey.name
	// in CEL.
	Name string `json:"name"`
	// Key is the secret value.
	Key string `json:"key"`
	// Metadata is apiKey.metadata in CEL.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// BasicAuthentication accepts HTTP basic credentials listed in Htpasswd.
type BasicAuthentication struct {
	// Mode defaults to Strict.
	Mode AuthMode `json:"mode,omitempty"`
	// Htpasswd holds "user:hash" lines; hashes are bcrypt ($2a$, $2b$,
	// $2y$) or {SHA}. Redacted hides it.
	Htpasswd string `json:"htpasswd"`
	// Realm is shown by browsers; default "agentgateway".
	Realm string `json:"realm,omitempty"`
}

// CSRF rejects state-changing requests (not GET, HEAD or OPTIONS) whose
// Origin is neither the request's own host nor listed.
type CSRF struct {
	// AdditionalOrigins are accepted origins ("https://app.example.com").
	AdditionalOrigins []string `json:"additionalOrigins,omitempty"`
}

// JWTAuthentication accepts tokens signed by any of Providers.
type JWTAuthentication struct {
	// Mode defaults to Strict.
	Mode AuthMode `json:"mode,omitempty"`
	// Providers are the accepted issuers; the token's iss picks one.
	Providers []JWTProvider `json:"providers"`
}

// JWTProvider is one accepted issuer.
type JWTProvider struct {
	// Name identifies the provider in logs.
	Name string `json:"name"`
	// Issuer must equal the token's iss claim; unique per policy.
	Issuer string `json:"issuer"`
	// Audiences: when set, the aud claim must contain one of them.
	Audiences []string `json:"audiences,omitempty"`
	// JWKS holds the verification keys.
	JWKS JWKS `json:"jwks"`
	// ClaimsToHeaders copies claims onto request headers for the backend.
	ClaimsToHeaders []ClaimToHeader `json:"claimsToHeaders,omitempty"`
	// TokenHeader is where the token is read, with an optional "Bearer "
	// prefix; default Authorization.
	TokenHeader string `json:"tokenHeader,omitempty"`
}

// JWKS is a JSON Web Key Set, inline or fetched by the proxy. Supported
// keys: RSA (RS256/384/512, PS256/384/512), EC P-256/384/521
// (ES256/384/512) and Ed25519 (EdDSA). Symmetric (HS*) keys are refused.
type JWKS struct {
	// Inline is the JWKS JSON document.
	Inline string `json:"inline,omitempty"`
	// RemoteURL is fetched by the proxy (http or https) and cached for
	// CacheDuration (default 5m). Until a fetch succeeds, tokens of this
	// provider are rejected.
	RemoteURL string `json:"remoteURL,omitempty"`
	// CacheDuration applies to RemoteURL.
	CacheDuration *Duration `json:"cacheDuration,omitempty"`
}

// ClaimToHeader copies one claim (nested with dots: "org.id") onto a
// request header.
type ClaimToHeader struct {
	Claim  string `json:"claim"`
	Header string `json:"header"`
}

// ExtAuthProtocol is the protocol an ExtAuth service speaks.
type ExtAuthProtocol string

const (
	// ExtAuthHTTP sends a copy of the request to an HTTP service: a 2xx
	// answer allows it, anything else is returned to the client as is.
	ExtAuthHTTP ExtAuthProtocol = "HTTP"
	// ExtAuthGRPC calls envoy.service.auth.v3.Authorization/Check (the Envoy
	// ext_authz v3 protocol) over HTTP/2 without TLS, so existing Envoy
	// authorization servers work unchanged.
	ExtAuthGRPC ExtAuthProtocol = "GRPC"
)

// ExtAuth is external authorization: the proxy asks Backend whether to let
// each request through, sending its method, path and headers (and
// optionally body).
//
// With protocol HTTP a 2xx answer allows the request and anything else is
// returned to the client as is. With protocol GRPC the CheckResponse
// decides: status OK allows the request, with the ok_response header
// changes applied (headers per HeaderValueOption append/append_action,
// headers_to_remove, query parameters, response_headers_to_add on the
// response); any other status answers denied_response (403 when it has no
// status). A failed call, a timeout or an error_response is a failure:
// FailOpen decides. The gRPC backend must not have TLS (not supported yet).
type ExtAuth struct {
	// Backend is the name of a Backend in Config.Backends.
	Backend string `json:"backend"`
	// Protocol is HTTP (the default) or GRPC.
	Protocol ExtAuthProtocol `json:"protocol,omitempty"`
	// PathPrefix is prepended to the request path in the check request
	// (HTTP only).
	PathPrefix string `json:"pathPrefix,omitempty"`
	// ForwardHeaders limits the client request headers sent (all when
	// empty). With GRPC the pseudo headers (:authority, :method, :path,
	// :scheme) are always sent; with HTTP the host, method and path are
	// part of the check request itself.
	ForwardHeaders []string `json:"forwardHeaders,omitempty"`
	// AllowedUpstreamHeaders are copied from the service's 2xx answer onto
	// the request sent to the backend (HTTP only).
	AllowedUpstreamHeaders []string `json:"allowedUpstreamHeaders,omitempty"`
	// AllUpstreamHeaders copies every header of the service's 2xx answer
	// onto the request sent to the backend instead of
	// AllowedUpstreamHeaders (which must then be empty), except Host, the
	// hop-by-hop headers and those describing the answer itself
	// (Content-Length, Content-Type, Content-Encoding, Date, Server): those
	// would corrupt the client's request (HTTP only).
	AllUpstreamHeaders bool `json:"allUpstreamHeaders,omitempty"`
	// Require200 allows a request only when the service answers 200, as
	// the Gateway API ExternalAuth filter requires; another 2xx answer is
	// a denial, answered 403. Default: any 2xx allows (HTTP only).
	Require200 bool `json:"require200,omitempty"`
	// SignInRedirectURL turns a 401 from the service into a 302 to this
	// URL with the original URL in the "rd" query parameter, for browser
	// page loads only (GET/HEAD with Sec-Fetch-Mode navigate, or accepting
	// text/html); other clients get the 401 (HTTP only).
	SignInRedirectURL string `json:"signInRedirectURL,omitempty"`
	// ContextExtensions are sent as attributes.context_extensions of every
	// check request (GRPC only).
	ContextExtensions map[string]string `json:"contextExtensions,omitempty"`
	// IncludeBodyBytes sends up to this many body bytes (0: none).
	IncludeBodyBytes int `json:"includeBodyBytes,omitempty"`
	// RejectLargeBody answers 413, without asking the service, a request
	// whose body is longer than IncludeBodyBytes, instead of sending its
	// first IncludeBodyBytes bytes: a decision on part of a body could be
	// wrong about the whole (the Gateway API filter's forwardBody).
	// Requires IncludeBodyBytes.
	RejectLargeBody bool `json:"rejectLargeBody,omitempty"`
	// FailOpen lets requests through when the service cannot be reached,
	// times out or (GRPC) answers an error_response; the default is to
	// answer 403.
	FailOpen bool `json:"failOpen,omitempty"`
	// Timeout of one check; nil means 2s.
	Timeout *Duration `json:"timeout,omitempty"`
}

// Transformation rewrites the request and the response with CEL.
type Transformation struct {
	// Request runs in phase RequestHeaders, or RequestBody when Body is
	// set (the request body, up to 1 MiB, is then buffered).
	Request *TransformationRules `json:"request,omitempty"`
	// Response runs in phase Response; response.body is buffered (up to
	// 1 MiB) only when Body is set.
	Response *TransformationRules `json:"response,omitempty"`
}

// TransformationRules are the header and body changes of one direction.
type TransformationRules struct {
	// When, a CEL condition, gates the rules; empty means always.
	When string `json:"when,omitempty"`
	// Set replaces headers with computed values (CEL, result string).
	Set []HeaderTransformation `json:"set,omitempty"`
	// Add appends computed values.
	Add []HeaderTransformation `json:"add,omitempty"`
	// Remove deletes headers.
	Remove []string `json:"remove,omitempty"`
	// Body replaces the body (CEL, result string or bytes).
	Body string `json:"body,omitempty"`
}

// HeaderTransformation computes one header value.
type HeaderTransformation struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
