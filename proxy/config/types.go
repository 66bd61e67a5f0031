package config

import "time"

// CurrentVersion documents the schema generation a Config follows. The
// Config.Version field is the *content* version (set by the operator per
// snapshot), not this.
const CurrentVersion = "v1"

// Config is one complete, self-contained proxy configuration: everything a
// single Gateway's proxies serve. A proxy applies a Config as a whole: it is
// decoded strictly, validated, compiled and then swapped in atomically; a
// Config that fails any of these steps changes nothing.
//
// Binds reference Backends by name, so every backend used by a route, a
// mirror filter or an L4 route must be listed in Backends.
type Config struct {
	// Version identifies this snapshot (for example an operator generation
	// or a content hash). It is shown in /config_dump, in metrics and in
	// ACK/NACK messages. Required.
	Version string `json:"version"`
	// Binds are the ports the proxy listens on. Each bind is one socket
	// (one UDP socket too for HTTP/3 or UDP binds). Names must be unique.
	Binds []Bind `json:"binds,omitempty"`
	// Backends are the upstream clusters routes send traffic to. Names
	// must be unique.
	Backends []Backend `json:"backends,omitempty"`
}

// Protocol is the protocol a Bind or Listener speaks, using the Gateway API
// listener protocol names.
type Protocol string

const (
	// ProtocolHTTP is cleartext HTTP/1.1 and h2c (prior knowledge).
	ProtocolHTTP Protocol = "HTTP"
	// ProtocolHTTPS is TLS-terminated HTTP/1.1 and HTTP/2 (ALPN).
	ProtocolHTTPS Protocol = "HTTPS"
	// ProtocolTLS is TLS passthrough (routed by SNI) or TLS terminated to TCP.
	ProtocolTLS Protocol = "TLS"
	// ProtocolTCP is plain TCP forwarding.
	ProtocolTCP Protocol = "TCP"
	// ProtocolUDP is UDP datagram forwarding.
	ProtocolUDP Protocol = "UDP"
)

// Bind is one listening port. All Listeners of a Bind share the socket and
// must be of a protocol compatible with the bind's protocol (HTTP binds hold
// HTTP listeners, HTTPS binds hold HTTPS listeners, TLS binds hold TLS
// listeners, TCP and UDP binds hold exactly one listener). Per the Gateway
// API, several listeners on one port are told apart by hostname: the request
// Host (HTTP), the TLS SNI (HTTPS, TLS) picks the listener with the most
// specific matching hostname.
//
// A bind is identified across reloads by Name: a bind whose Name, Address,
// Port and Protocol are unchanged keeps its socket; only its routing is
// replaced.
type Bind struct {
	// Name is a stable, unique key for the bind (for example "port-8080").
	Name string `json:"name"`
	// Address is the IP address to listen on. Empty means all interfaces.
	Address string `json:"address,omitempty"`
	// Port is the TCP (or UDP) port, 1-65535.
	Port int `json:"port"`
	// Protocol is the protocol of the socket; see Protocol.
	Protocol Protocol `json:"protocol"`
	// HTTP3 additionally serves the HTTPS bind over QUIC on the same UDP
	// port and advertises it with Alt-Svc. Only valid for HTTPS binds.
	HTTP3 bool `json:"http3,omitempty"`
	// Frontend tunes the bind's client connections; see Frontend.
	Frontend *Frontend `json:"frontend,omitempty"`
	// Listeners share this bind; see Listener. At least one is required.
	Listeners []Listener `json:"listeners"`
}

// Listener is a Gateway API listener: a hostname on a port, with its TLS
// settings and the routes attached to it (already filtered by the operator
// for allowedRoutes, kinds and namespaces; attached routes are served as
// given).
type Listener struct {
	// Name is the Gateway listener name (sectionName); unique within the
	// bind. Used in metrics and logs.
	Name string `json:"name"`
	// Hostname restricts the listener to one host ("foo.example.com") or a
	// wildcard of exactly one leftmost label ("*.example.com", which
	// matches any number of labels in front of example.com but not
	// example.com itself). Empty matches every host.
	Hostname string `json:"hostname,omitempty"`
	// Protocol must equal the bind protocol.
	Protocol Protocol `json:"protocol"`
	// TLS is required for HTTPS and TLS listeners and rejected for others.
	TLS *ListenerTLS `json:"tls,omitempty"`
	// HTTPRoutes are the routes attached to an HTTP or HTTPS listener.
	// GRPCRoutes are expressed as HTTPRoutes by the operator (path
	// "/service/method" matches and method POST).
	HTTPRoutes []HTTPRoute `json:"httpRoutes,omitempty"`
	// L4Routes are the TCPRoutes, TLSRoutes or UDPRoutes attached to a TCP,
	// TLS or UDP listener.
	L4Routes []L4Route `json:"l4Routes,omitempty"`
	// AccessLog logs the HTTP requests of this listener.
	AccessLog *AccessLog `json:"accessLog,omitempty"`
	// Tracing records and exports spans of this listener's requests.
	Tracing *Tracing `json:"tracing,omitempty"`
	// PreRouting are filters every request of an HTTP or HTTPS listener
	// goes through, in this order, before its route is looked up; see
	// ListenerFilter.
	PreRouting []ListenerFilter `json:"preRouting,omitempty"`
}

// TLSMode says whether a TLS listener terminates TLS or passes it through.
type TLSMode string

const (
	// TLSModeTerminate terminates TLS at the proxy (HTTPS always does).
	TLSModeTerminate TLSMode = "Terminate"
	// TLSModePassthrough forwards the TLS stream untouched, routed by SNI.
	TLSModePassthrough TLSMode = "Passthrough"
)

// ListenerTLS is the TLS configuration of a listener.
type ListenerTLS struct {
	// Mode defaults to Terminate. Passthrough is only valid on TLS binds.
	Mode TLSMode `json:"mode,omitempty"`
	// Certificates are served by SNI: the proxy picks the certificate whose
	// names best match the client's SNI, falling back to the first one.
	// At least one is required in Terminate mode.
	Certificates []Certificate `json:"certificates,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `json:"minVersion,omitempty"`
	// ALPN is the list of application protocols offered. Defaults to
	// ["h2", "http/1.1"] for HTTPS listeners.
	ALPN []string `json:"alpn,omitempty"`
	// CipherSuites restricts the TLS 1.2 cipher suites, by IANA name (see
	// CipherSuite). Empty allows Go's default secure suites.
	CipherSuites []string `json:"cipherSuites,omitempty"`
	// ClientValidation enables client-certificate (mTLS) validation.
	ClientValidation *ClientValidation `json:"clientValidation,omitempty"`
}

// Certificate is a PEM certificate chain and its private key.
type Certificate struct {
	// CertChain is the PEM-encoded leaf certificate followed by its
	// intermediates.
	CertChain string `json:"certChain"`
	// PrivateKey is the PEM-encoded private key. It is never shown in
	// /config_dump (see Config.Redacted).
	PrivateKey string `json:"privateKey"`
}

// ClientValidationMode is the Gateway API frontend validation mode.
type ClientValidationMode string

const (
	// ClientValidationAllowValidOnly requires a client certificate that
	// chains to the CA bundle; the handshake fails otherwise.
	ClientValidationAllowValidOnly ClientValidationMode = "AllowValidOnly"
	// ClientValidationAllowInsecureFallback asks for a client certificate but
	// also accepts clients without one or with one that does not validate.
	ClientValidationAllowInsecureFallback ClientValidationMode = "AllowInsecureFallback"
)

// ClientValidation configures verification of client certificates.
type ClientValidation struct {
	// CACertificates is a PEM bundle of CAs that client certificates must
	// chain to. Required.
	CACertificates string `json:"caCertificates"`
	// Mode defaults to AllowValidOnly.
	Mode ClientValidationMode `json:"mode,omitempty"`
}

// RouteMeta carries the identity and precedence inputs of a Gateway API
// route. The proxy orders routes exactly as the Gateway API says, so these
// fields must be the ones of the Kubernetes object.
type RouteMeta struct {
	// Key is a stable unique identifier for the route within its listener
	// (for example "namespace/name"); used as the metrics label.
	// Defaults to Namespace/Name.
	Key string `json:"key,omitempty"`
	// Namespace of the route object. Required.
	Namespace string `json:"namespace"`
	// Name of the route object. Required.
	Name string `json:"name"`
	// CreationTimestamp of the route object; older routes win ties.
	CreationTimestamp time.Time `json:"creationTimestamp"`
}

// HTTPRoute is a Gateway API HTTPRoute as attached to one listener.
type HTTPRoute struct {
	RouteMeta
	// Hostnames are the route's spec.hostnames, unmodified. The proxy
	// intersects them with the listener hostname as the spec says; an
	// empty list means "every hostname the listener accepts". A route
	// whose hostnames don't intersect the listener's is never matched
	// (the operator should not attach it at all).
	Hostnames []string `json:"hostnames,omitempty"`
	// Rules in spec order; the order breaks the last precedence tie.
	Rules []HTTPRouteRule `json:"rules"`
}

// HTTPRouteRule is one rule of an HTTPRoute.
type HTTPRouteRule struct {
	// Name is the optional rule name (sectionName); used in metrics.
	Name string `json:"name,omitempty"`
	// Matches are ORed. An empty list matches every request (it is treated
	// as a single PathPrefix "/" match).
	Matches []HTTPRouteMatch `json:"matches,omitempty"`
	// Filters are applied in order. At most one RequestRedirect,
	// URLRewrite, DirectResponse, CORS, RequestHeaderModifier and
	// ResponseHeaderModifier each; RequestRedirect, DirectResponse and
	// URLRewrite are mutually exclusive where the spec says so.
	Filters []HTTPFilter `json:"filters,omitempty"`
	// BackendRefs are picked by weight. A rule without backendRefs and
	// without a RequestRedirect or DirectResponse filter answers 500.
	BackendRefs []BackendRef `json:"backendRefs,omitempty"`
	// Timeouts bounds the request; nil means no timeout.
	Timeouts *Timeouts `json:"timeouts,omitempty"`
	// Retry retries failed backend requests; nil means no retries.
	Retry *Retry `json:"retry,omitempty"`
	// SessionPersistence pins a client to one backend endpoint.
	SessionPersistence *SessionPersistence `json:"sessionPersistence,omitempty"`
	// Traffic is the merged AgentgatewayPolicy traffic section for this
	// rule (including ExtensionRef policies); nil means none.
	Traffic *TrafficPolicy `json:"traffic,omitempty"`
}

// PathMatchType is the Gateway API path match type.
type PathMatchType string

// The path match types, as in the Gateway API.
const (
	PathMatchExact             PathMatchType = "Exact"
	PathMatchPathPrefix        PathMatchType = "PathPrefix"
	PathMatchRegularExpression PathMatchType = "RegularExpression"
)

// MatchType is the Gateway API header and query match type.
type MatchType string

// The header and query match types, as in the Gateway API.
const (
	MatchExact             MatchType = "Exact"
	MatchRegularExpression MatchType = "RegularExpression"
)

// HTTPRouteMatch is one match of a rule; all its conditions must hold.
type HTTPRouteMatch struct {
	// Path defaults to PathPrefix "/".
	Path *PathMatch `json:"path,omitempty"`
	// Headers must all match (names are case-insensitive).
	Headers []HeaderMatch `json:"headers,omitempty"`
	// QueryParams must all match (names are case-sensitive).
	QueryParams []QueryParamMatch `json:"queryParams,omitempty"`
	// Method, if set, must equal the request method (e.g. "GET").
	Method string `json:"method,omitempty"`
}

// PathMatch matches the request path. RegularExpression uses RE2 syntax
// and must match the whole path.
type PathMatch struct {
	// Type defaults to PathPrefix.
	Type PathMatchType `json:"type,omitempty"`
	// Value must start with "/". A PathPrefix matches whole segments:
	// "/foo" matches "/foo" and "/foo/bar" but not "/foobar"; a trailing
	// "/" in the prefix is ignored.
	Value string `json:"value"`
}

// HeaderMatch matches one request header. RegularExpression values use RE2
// syntax and must match the whole header value.
type HeaderMatch struct {
	// Type defaults to Exact.
	Type  MatchType `json:"type,omitempty"`
	Name  string    `json:"name"`
	Value string    `json:"value"`
}

// QueryParamMatch matches one query parameter (its first value).
type QueryParamMatch struct {
	// Type defaults to Exact.
	Type  MatchType `json:"type,omitempty"`
	Name  string    `json:"name"`
	Value string    `json:"value"`
}

// HTTPFilter is one filter of a rule (or of a backendRef). Exactly one of
// its fields must be set; the set field is the filter type.
type HTTPFilter struct {
	RequestHeaderModifier  *HeaderModifier  `json:"requestHeaderModifier,omitempty"`
	ResponseHeaderModifier *HeaderModifier  `json:"responseHeaderModifier,omitempty"`
	RequestRedirect        *RequestRedirect `json:"requestRedirect,omitempty"`
	URLRewrite             *URLRewrite      `json:"urlRewrite,omitempty"`
	RequestMirror          *RequestMirror   `json:"requestMirror,omitempty"`
	CORS                   *CORS            `json:"cors,omitempty"`
	DirectResponse         *DirectResponse  `json:"directResponse,omitempty"`
}

// HTTPHeader is a header name and value.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HeaderModifier sets, adds and removes headers, in that order.
type HeaderModifier struct {
	// Set replaces any existing values of the header.
	Set []HTTPHeader `json:"set,omitempty"`
	// Add appends a value to the header.
	Add []HTTPHeader `json:"add,omitempty"`
	// Remove deletes the headers (case-insensitive names).
	Remove []string `json:"remove,omitempty"`
}

// PathModifierType is the Gateway API path modifier type.
type PathModifierType string

// The path modifier types, as in the Gateway API.
const (
	ReplaceFullPath    PathModifierType = "ReplaceFullPath"
	ReplacePrefixMatch PathModifierType = "ReplacePrefixMatch"
)

// PathModifier rewrites the path. ReplacePrefixMatch replaces the part of
// the path matched by the rule's PathPrefix match, so it is only valid in
// rules whose matches are all PathPrefix.
type PathModifier struct {
	Type PathModifierType `json:"type"`
	// ReplaceFullPath is the new path for Type ReplaceFullPath.
	ReplaceFullPath string `json:"replaceFullPath,omitempty"`
	// ReplacePrefixMatch replaces the matched prefix for Type
	// ReplacePrefixMatch.
	ReplacePrefixMatch string `json:"replacePrefixMatch,omitempty"`
}

// RequestRedirect answers with a redirect instead of proxying.
type RequestRedirect struct {
	// Scheme is "http" or "https"; defaults to the request's scheme.
	Scheme string `json:"scheme,omitempty"`
	// Hostname defaults to the request's host (without port).
	Hostname string `json:"hostname,omitempty"`
	// Port defaults to the well-known port of Scheme if Scheme is set, and
	// to the listener port otherwise. Ports 80 (http) and 443 (https) are
	// left out of the Location header.
	Port int `json:"port,omitempty"`
	// Path rewrites the path; default keeps it.
	Path *PathModifier `json:"path,omitempty"`
	// StatusCode is 301, 302 (default), 303, 307 or 308.
	StatusCode int `json:"statusCode,omitempty"`
}

// URLRewrite rewrites the request before it is proxied.
type URLRewrite struct {
	// Hostname replaces the Host header sent to the backend.
	Hostname string `json:"hostname,omitempty"`
	// Path rewrites the path.
	Path *PathModifier `json:"path,omitempty"`
}

// RequestMirror copies requests to another backend. Mirrored responses are
// discarded; mirroring never delays or fails the main request, and mirrors
// are dropped when too many are already in flight.
type RequestMirror struct {
	// Backend is the name of a Backend.
	Backend string `json:"backend"`
	// Percent of requests mirrored, 0-100; nil means 100.
	Percent *int `json:"percent,omitempty"`
}

// CORS answers preflight requests and decorates responses with CORS headers.
type CORS struct {
	// AllowOrigins are origins ("https://a.example.com"), "*", or
	// origins with a wildcard host label ("https://*.example.com").
	AllowOrigins []string `json:"allowOrigins,omitempty"`
	// AllowMethods lists allowed methods, or "*".
	AllowMethods []string `json:"allowMethods,omitempty"`
	// AllowHeaders lists allowed request headers, or "*".
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// ExposeHeaders lists response headers readable by the client.
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// AllowCredentials sets Access-Control-Allow-Credentials: true.
	AllowCredentials bool `json:"allowCredentials,omitempty"`
	// MaxAge is the preflight cache lifetime in seconds; 0 leaves the
	// header out.
	MaxAge int `json:"maxAge,omitempty"`
}

// DirectResponse answers the request from the proxy itself.
type DirectResponse struct {
	// StatusCode is 200-599.
	StatusCode int `json:"statusCode"`
	// Body is sent as text/plain.
	Body string `json:"body,omitempty"`
}

// Timeouts are the Gateway API HTTPRoute timeouts.
type Timeouts struct {
	// Request bounds the whole request including retries; on expiry the
	// client gets 504.
	Request *Duration `json:"request,omitempty"`
	// BackendRequest bounds each attempt to the backend.
	BackendRequest *Duration `json:"backendRequest,omitempty"`
}

// Retry retries backend requests that fail to connect or answer with one of
// Codes. Only requests with a body of at most 64 KiB (or none) are retried,
// because the body has to be replayed.
type Retry struct {
	// Codes are HTTP status codes (500-599) that trigger a retry.
	Codes []int `json:"codes,omitempty"`
	// Attempts is the number of retries after the first try (1-10).
	Attempts int `json:"attempts"`
	// Backoff is the pause before each retry, doubled on each attempt;
	// nil means 25ms.
	Backoff *Duration `json:"backoff,omitempty"`
	// Budget caps the retries of this rule, counted over the requests of
	// all its backendRefs; the backend's RetryBudget, when set, applies as
	// well. Without either, retries in flight to a backend may reach 20% of
	// its requests in flight (at least 3), and a refused retry returns the
	// failed answer as is.
	Budget *RetryBudget `json:"budget,omitempty"`
}

// RetryBudget caps retries as a share of recent requests (Gateway API
// GEP-3388), so retries cannot multiply the load on a failing backend: a
// retry may start while the retries started in the last Interval stay
// within Percent of the requests started in it, or while fewer than
// MinRetries were started in the last MinRetryInterval (so a quiet backend
// can still be retried). Counts are kept per proxy replica and survive
// reloads that leave the budget and its scope unchanged. A retry the
// budget refuses is answered 503.
type RetryBudget struct {
	// Percent of the requests started in the last Interval that may be
	// retries, 0-100.
	Percent int `json:"percent"`
	// Interval is the window requests and retries are counted over; nil
	// means 10s.
	Interval *Duration `json:"interval,omitempty"`
	// MinRetries per MinRetryInterval are allowed whatever Percent says; 0
	// means none.
	MinRetries int `json:"minRetries,omitempty"`
	// MinRetryInterval is the window of MinRetries; nil means 1s.
	MinRetryInterval *Duration `json:"minRetryInterval,omitempty"`
}

// SessionPersistenceType is how a session is identified.
type SessionPersistenceType string

// The session persistence types, as in the Gateway API.
const (
	SessionPersistenceCookie SessionPersistenceType = "Cookie"
	SessionPersistenceHeader SessionPersistenceType = "Header"
)

// SessionPersistence pins a client to the backend endpoint it first reached,
// for as long as that endpoint exists.
type SessionPersistence struct {
	// Type defaults to Cookie.
	Type SessionPersistenceType `json:"type,omitempty"`
	// SessionName is the cookie or header name. Required.
	SessionName string `json:"sessionName"`
	// AbsoluteTimeout is the cookie lifetime; nil means a session cookie.
	AbsoluteTimeout *Duration `json:"absoluteTimeout,omitempty"`
	// CookiePath is the cookie's Path attribute: an absolute path without ';' or
	// control characters. "" means "/".
	CookiePath string `json:"cookiePath,omitempty"`
	// Lifetime bounds a session from when the proxy issued its token: the token
	// carries its expiry, and an expired one starts a new session whatever the
	// client kept. nil means the session lasts as long as its endpoint.
	Lifetime *Duration `json:"lifetime,omitempty"`
}

// BackendRef points a rule at a Backend with a weight.
type BackendRef struct {
	// Backend is the name of a Backend in Config.Backends. Required unless
	// Invalid is set.
	Backend string `json:"backend,omitempty"`
	// Weight is the relative share of traffic (0-1000000); nil means 1.
	Weight *int `json:"weight,omitempty"`
	// Invalid marks a backendRef the operator could not resolve (missing
	// Service, refused ReferenceGrant, unsupported kind...). Its share of
	// the traffic is answered with 500, as the Gateway API requires. The
	// value is a human-readable reason, shown in /config_dump.
	Invalid string `json:"invalid,omitempty"`
	// Filters applied only when this backendRef is picked, after the rule's
	// own filters; only RequestHeaderModifier, ResponseHeaderModifier and
	// URLRewrite are allowed. A URLRewrite here works on the request as the
	// rule's URLRewrite left it: its hostname replaces the rule's, and its
	// path modifier the rule's path. ReplacePrefixMatch replaces the prefix
	// the rule matched, so it is rejected when the rule's URLRewrite also
	// rewrites the path (that prefix is gone by then).
	Filters []HTTPFilter `json:"filters,omitempty"`
}

// L4Route is a TCPRoute, TLSRoute or UDPRoute attached to a listener.
type L4Route struct {
	RouteMeta
	// Hostnames are SNI names (TLSRoute only), with the same wildcard rules
	// as HTTP hostnames. Empty matches every SNI the listener accepts.
	Hostnames []string `json:"hostnames,omitempty"`
	// BackendRefs are picked by weight per connection (per client address
	// for UDP). Filters are not allowed.
	BackendRefs []BackendRef `json:"backendRefs,omitempty"`
}

// BackendProtocol is the protocol spoken to a backend.
type BackendProtocol string

const (
	// BackendHTTP1 is HTTP/1.1 (default), over TLS when Backend.TLS is set.
	BackendHTTP1 BackendProtocol = "HTTP1"
	// BackendH2C is cleartext HTTP/2 with prior knowledge.
	BackendH2C BackendProtocol = "H2C"
	// BackendH2 is HTTP/2 over TLS; requires Backend.TLS.
	BackendH2 BackendProtocol = "H2"
	// BackendTCP is raw TCP/UDP forwarding (for L4 routes); also the
	// protocol of backends used by L4 routes.
	BackendTCP BackendProtocol = "TCP"
)

// Backend is an upstream cluster: a set of endpoints and how to talk to them.
type Backend struct {
	// Name is unique; referenced by BackendRef.Backend and
	// RequestMirror.Backend. The operator typically uses
	// "namespace/service:port".
	Name string `json:"name"`
	// Protocol defaults to HTTP1.
	Protocol BackendProtocol `json:"protocol,omitempty"`
	// Endpoints are the addresses traffic is balanced over. A backend with
	// no endpoints answers 503.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// TLS enables TLS to the backend.
	TLS *BackendTLS `json:"tls,omitempty"`
	// ConnectTimeout bounds dialing an endpoint; nil means 10s.
	ConnectTimeout *Duration `json:"connectTimeout,omitempty"`
	// RetryBudget caps the retries of every rule sending to this backend,
	// counted over all requests to it (a rule's own Retry.Budget applies as
	// well). HTTP backends only.
	RetryBudget *RetryBudget `json:"retryBudget,omitempty"`
	// Auth adds credentials to every request to the backend.
	Auth *BackendAuth `json:"auth,omitempty"`
	// Resilience: health checks, outlier detection, circuit breakers,
	// connect retries, TCP keep-alive (resilience.go). HTTP backends only.
	Resilience *Resilience `json:"resilience,omitempty"`
	// MCP makes the backend an MCP gateway in front of several MCP
	// servers (mcp.go).
	MCP *MCPBackend `json:"mcp,omitempty"`
}

// Endpoint is one address of a Backend.
type Endpoint struct {
	// Address is "ip:port" or "host:port".
	Address string `json:"address"`
	// Weight is the relative share of traffic (1-1000000); 0 means 1.
	Weight int `json:"weight,omitempty"`
	// Zone is informational (topology); shown in /config_dump.
	Zone string `json:"zone,omitempty"`
	// Terminating endpoints (shutting down, still serving) get new
	// requests only when every endpoint of the backend is terminating.
	Terminating bool `json:"terminating,omitempty"`
}

// BackendTLS is the TLS configuration towards a backend.
type BackendTLS struct {
	// CACertificates is a PEM bundle of trusted CAs; empty means the system
	// roots.
	CACertificates string `json:"caCertificates,omitempty"`
	// SNI is the server name sent and, unless SubjectAltNames is set,
	// verified.
	SNI string `json:"sni,omitempty"`
	// SubjectAltNames, if set, replaces hostname verification: the server
	// certificate must carry one of these DNS or URI SANs.
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// ClientCertificate is presented for mTLS.
	ClientCertificate *Certificate `json:"clientCertificate,omitempty"`
	// ALPN protocols offered; defaults follow Backend.Protocol.
	ALPN []string `json:"alpn,omitempty"`
	// InsecureSkipVerify disables server verification (testing only).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// BackendByName returns the backend with that name, or nil.
func (c *Config) BackendByName(name string) *Backend {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}
