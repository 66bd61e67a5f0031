// Package config is the contract between the operator and the proxy: one
// Config per Gateway, complete and self-contained. The operator fills it
// from Gateway API objects; the proxy decodes it strictly (Decode), checks
// it (Validate) and serves it. Nothing here imports Kubernetes packages.
//
// # Shape
//
//	Config
//	├─ Binds[]            one per port (socket); Name is the stable key across reloads
//	│  └─ Listeners[]     Gateway listeners on that port, told apart by Hostname (Host or SNI)
//	│     ├─ TLS          certificates (inline PEM), min version, ALPN, client validation
//	│     ├─ PreRouting[] filters run in order before the route lookup (HTTP, HTTPS)
//	│     ├─ HTTPRoutes[] routes attached to this listener (HTTP, HTTPS)
//	│     └─ L4Routes[]   TCPRoutes / TLSRoutes / UDPRoutes (TCP, TLS, UDP)
//	└─ Backends[]         referenced by name from BackendRefs and mirrors
//
// # What the operator must do (and what the proxy does itself)
//
//   - Group listeners by port into Binds. All listeners of a bind share its
//     protocol. TCP and UDP binds have exactly one listener. TLS binds may
//     not mix Passthrough and Terminate listeners.
//   - Attach routes to listeners after applying allowedRoutes, kinds,
//     sectionName/port and ReferenceGrants; the proxy serves whatever is
//     attached. A route attached to several listeners is listed under each.
//   - Copy route hostnames as they are: the proxy intersects them with the
//     listener hostname (Gateway API rules) and drops non-intersecting ones.
//   - Set RouteMeta (namespace, name, creationTimestamp) from the object:
//     the proxy orders matches with the full Gateway API precedence and
//     needs these for the final tie-breaks.
//   - Express GRPCRoutes as HTTPRoutes: a service/method match becomes an
//     Exact path "/pkg.Service/Method" (or a RegularExpression path for
//     regex service/method matches, PathPrefix "/pkg.Service/" for a
//     service-only match) with Method "POST"; header matches map directly.
//     Point them at H2C or H2 backends. The proxy answers gRPC requests it
//     fails itself with grpc-status.
//   - For a backendRef that cannot be resolved (missing Service, denied
//     ReferenceGrant, unknown kind), emit BackendRef{Invalid: "reason",
//     Weight: w}: its share of requests gets 500, as the spec requires. A
//     rule with no backendRefs (and no redirect or direct response) also
//     gets 500.
//   - Resolve Services to endpoints (EndpointSlices) yourself: Backend
//     endpoints are addresses; the proxy does no service discovery. Choose
//     Backend.Protocol from appProtocol (kubernetes.io/h2c → H2C, TLS with
//     h2 → H2, otherwise HTTP1; TCP for L4 backends).
//   - Convert a mirror fraction to a percent, and durations to Go duration
//     strings ("1.5s"). Put BackendTLSPolicy CA bundles, SNI and SANs in
//     Backend.TLS.
//   - Put the merged AgentgatewayPolicy traffic section of each rule in
//     HTTPRouteRule.Traffic. The proxy enforces, in this order:
//     JWTAuthentication (inline JWKS, or a URL the proxy fetches and
//     caches), APIKeyAuthentication and BasicAuthentication (401; key
//     values and htpasswd inline, copied from the Secrets), CSRF (403),
//     ExtAuth (HTTP, or the Envoy ext_authz v3 gRPC protocol over h2c; the
//     service is a Backend), Authorization (CEL Allow/Deny/Require, 403),
//     RateLimit.Local (token buckets with an optional CEL key, 429), then
//     Transformation (CEL headers and bodies, request and response). CEL is
//     checked in Validate with package proxy/cel, so a bad expression is a
//     field error, not a proxy NACK. What the proxy cannot do yet (gRPC
//     ext_authz to a Backend with TLS) must fail closed. A Gateway API
//     ExternalAuth filter is an ExtAuth in the rule's Traffic too (with
//     Require200, ForwardHeaders, AllUpstreamHeaders and RejectLargeBody
//     set as the filter's spec says). A Gateway API listener's
//     ExternalAuth filters (GEP-5224) are Listener.PreRouting ExtAuths, in
//     the listener's order; one that cannot be enforced is a 500
//     DirectResponse in their place.
//   - Retry budgets (GEP-3388): Retry.Budget caps one rule's retries,
//     Backend.RetryBudget those of every rule sending to the backend; the
//     proxy counts requests and retries per replica over a sliding window.
//   - Certificates and keys are inline PEM. Redacted() replaces private
//     keys for dumps; never log a Config without it.
//   - Validate before sending: a config the proxy rejects is a bug in the
//     translator, not a user error (admission and translation reject bad
//     input first; see docs/architecture.md). Validate returns Errors, each
//     with a field path, so the operator can map them back.
//
// # Compatibility
//
// Decoding rejects unknown fields, so a field added here must reach the
// proxy before the operator sends it. Add fields, never repurpose them.
package config
