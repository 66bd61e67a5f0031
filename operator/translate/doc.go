// Package translate turns a Snapshot of Kubernetes objects into the proxy configuration of
// each of our Gateways, and into the status of every object the operator owns.
//
// Translate is pure: no client, no clock, no globals. The same Snapshot always gives a deeply
// equal Result, in the same order, with the same config versions (a content hash), whatever
// the order of the objects in the Snapshot. This is what makes it testable with golden files
// (testdata/<area>/<case>.in.yaml -> <case>.out.yaml, by area: backends, gateways,
// listenersets, policies, routes; `go test ./operator/translate/ -update`
// rewrites the outputs) and safe to cache.
//
// # Steps
//
// Translate (translate.go) calls one step after another, each in its own file:
//
//  1. translateGatewayClasses (gatewayclasses.go): classes whose controllerName is ours are
//     Accepted unless their parametersRef is wrong (InvalidParameters); each lists the
//     supported features (features.go).
//  2. translateGateways (gateways.go): Gateways of our classes; their own parametersRef and
//     address types are checked.
//  3. translateListenerSets (listenersets.go): ListenerSets naming one of our Gateways,
//     filtered by the Gateway's allowedListeners and ordered oldest first, then by name.
//  4. validateListeners (listeners.go): every listener on its own (protocol, port, TLS mode,
//     allowedRoutes kinds), then conflicts over the merged set. Conflicting Gateway
//     listeners all lose (the spec forbids picking a winner); a ListenerSet listener loses to
//     any earlier (higher precedence) listener it conflicts with.
//  5. resolveCertificates (certificates.go): certificateRefs to Secrets, cross-namespace only
//     with a ReferenceGrant (refgrant.go), each a valid key pair. A listener without a usable
//     certificate still counts attached routes but is not served.
//  6. attachRoutes (attach.go): every route kind; parentRefs by Gateway or ListenerSet,
//     sectionName and port; allowedRoutes namespaces (Same/All/Selector) and kinds;
//     hostname intersection (hostnames.go). Produces the route parent conditions.
//  7. buildRoutes (httproute.go, grpcroute.go, l4routes.go): each attached route once:
//     matches, filters, rule fields; GRPCRoute as POST /service/method; TLS/TCP/UDP routes as
//     L4 routes. backendRefs resolve in backends.go: Service port -> EndpointSlices (the
//     slice port named like the Service port; ready endpoints only; headless, selectorless
//     and ExternalName Services; appProtocol kubernetes.io/h2c), multicluster.x-k8s.io
//     ServiceImport port -> EndpointSlices labelled multicluster.kubernetes.io/service-name,
//     AgentgatewayBackend static hosts; cross-namespace refs need a ReferenceGrant. An
//     unresolvable ref stays in the rule as BackendRef.Invalid, so the proxy answers 500 for
//     its share, and sets ResolvedRefs=False. An ExternalAuth filter (externalauth.go)
//     becomes the rule's traffic ExtAuth, with the filter's semantics (only a 200 allows;
//     Authorization and the allowed headers reach the service; answer headers are copied, all
//     of them when none are listed; forwardBody.maxSize is sent and a longer body refused
//     with 413); its backendRef resolves like a route's, and when it cannot be resolved the
//     rule answers 500 (the filter fails closed) with ResolvedRefs=False. A route using
//     something the proxy cannot do safely (an unknown filter type, a dot segment in the
//     ExternalAuth path) is not served at all (Accepted=False/UnsupportedValue).
//  8. attachPolicies (policies.go, policytraffic.go): AgentgatewayPolicy targetRefs,
//     targetSelectors and inline ExtensionRef filters. Every attached policy is validated
//     again with the webhook's own code (webhook/validation.ValidatePolicy, the proxy's CEL
//     environment): one applied while the webhook was down, or accepted by an older
//     version, is not merged and reports Accepted=False/Invalid with every field error;
//     every rule its traffic section reaches (by target or inline) answers 500 rather than
//     being served without it, since dropping it could drop an auth requirement. The
//     traffic fields the proxy enforces are converted once per policy: API keys (each data
//     entry of the referenced Secrets: client name and key) and htpasswd (the `.htpasswd`
//     key) are copied inline from Secrets in the policy's namespace; the ext-auth backendRef
//     resolves like a route's (a ReferenceGrant must allow AgentgatewayPolicy for another
//     namespace); the result is checked with the proxy's validation (JWKS, htpasswd hashes,
//     duplicate keys, CSRF origins). A field that cannot be used (missing Secret or key,
//     refused backendRef, a value the proxy rejects) makes the policy Accepted=False/Invalid
//     and ResolvedRefs=False, and the rules it wins answer 500 (as a backend.tls with a
//     missing CA or client certificate makes its backend answer 500); it never breaks the
//     rest of the Gateway's config. This runs before BackendTLSPolicies so an ext-auth service gets
//     its backend TLS like any backend.
//     resolveTelemetryPolicies (tracing.go): the oldest XTelemetryPolicy per Gateway
//     (the others Conflicted) with mode Enabled resolves its collector, so BackendTLSPolicies
//     apply to it; mergeFrontend gives its tracing to the Gateway's HTTP(S) listeners that no
//     frontend.tracing reaches. A field it cannot honour refuses the whole policy in status.
//  9. applyBackendTLSPolicies (backendtls.go): TLS origination per Service port; the oldest
//     policy wins; an invalid one makes the backend answer 500 instead of using plaintext.
//     applyBackendTrafficPolicies (backendtraffic.go): an XBackendTrafficPolicy's
//     retryConstraint becomes the retry budget of every HTTP backend of its Service (or
//     AgentgatewayBackend), the oldest policy winning; sessionPersistence is not
//     implemented (a policy with nothing else is not Accepted).
//  10. mergePolicies and mergeRule (policies.go, policyapply.go): the unit of merging is a
//     top-level field of a section (traffic.timeouts, traffic.authorization, frontend.tls,
//     backend.tls, ...), taken whole from one policy, so its inner values stay consistent (a
//     rule-level timeouts.request is never combined with a Gateway-level
//     timeouts.backendRequest it would contradict, and a route-level authorization replaces
//     a Gateway-level one rather than adding rules to it): Gateway < listener < route < rule
//     < inline, the more specific winning; at one level the oldest policy wins, then
//     namespace/name. The route's own Gateway API fields beat policies (an ExternalAuth
//     filter beats traffic.extAuth; a policy's retry budget still caps a route's own
//     retry, which has none). Applied: timeouts, retry (with its budget), CORS, header modifiers, direct response, session persistence, listener TLS
//     version/ALPN, HTTP/3, backend TLS, HTTP/2, connect timeout, and in
//     HTTPRouteRule.Traffic JWT authentication (inline or remote JWKS), API keys, basic
//     authentication, CSRF, ext-auth (HTTP, or gRPC over h2c to a backend resolved as for a
//     GRPCRoute), CEL authorization, local rate limits and CEL transformations. The other
//     fields show in the EffectiveConfig view and in the policy's status. gRPC ext-auth to a
//     backend with TLS, which the proxy cannot speak yet, makes the rules it reaches answer
//     500: a request is never served without the check its policy asks for. Then
//     checkExternalAuthFilters (externalauth.go) fails closed the rules whose ExternalAuth
//     service ended up behind TLS the proxy cannot speak (gRPC).
//  11. assemble (assemble.go, precedence.go): per Gateway, one bind per port and transport,
//     the servable listeners, their routes with the merged policies, the backends they use,
//     the content-hash version (of the config cut into pieces, configdelta.Encode, which
//     the config server also pushes from), the ports for the Service, and the EffectiveConfig view
//     (routes in match-precedence order, each merged policy field with its source). The
//     config is checked with config.Validate: a config the proxy would reject is a bug, and
//     is reported instead of published. Config holds the copied key values and htpasswd:
//     log or dump it only through config.Redacted; the EffectiveConfig view shows the
//     policies' Secret references, never their contents.
//  12. reportStatus (status.go): Gateway, listener, ListenerSet, route parent, policy
//     ancestor and AgentgatewayBackend conditions. Conditions carry ObservedGeneration and a
//     zero LastTransitionTime; Programmed=True means "translated into a valid config" and is
//     only published by the status writer once proxies acknowledged the version.
//
// # Cost
//
// Translate builds its lookups once (index.go) and then does work proportional to the
// objects attached to our Gateways: O(n log n) overall (sorting), unattached routes are
// never built, and each backend is resolved once per translation however many routes use
// it. BenchmarkTranslate/1000 (hack/bench/routes) measures one Gateway with 1000 routes
// from scratch; its CPU profile (go test ./hack/bench/routes/ -run x -bench
// 'Translate/1000$' -cpuprofile cpu.out) shows the share of cutting the config into pieces
// and hashing them, and of config.Validate.
// Each attached policy's CEL is compiled on every translation (ValidatePolicy, then the
// proxy-side check of its converted traffic fields, then config.Validate of the Gateway);
// memoizing the first two by policy UID and generation (plus the Secrets' resourceVersions)
// would remove most of that if many policies carry CEL.
//
// Where caching would make one route change cost one route's work: everything a Gateway's
// config depends on is reachable from it (its listeners, ListenerSets, attached routes,
// their backends, Secrets, grants and policies). A provider that tracks, per Gateway, the
// keys of the objects it read could re-translate only the Gateways whose inputs changed and
// reuse the rest of the previous Result; inside one Gateway, built routes (buildRoutes) and
// resolved backends (backends.go) are pure functions of the route, its grants and its
// Services and can be memoized by resourceVersion (TranslateReusing now does, for the
// routes below), leaving assemble (linear, cheap) and the content hash to redo.
//
// TranslateReusing (reuse.go) is a first step of that: it takes the previous Result and
// reuses what it made for the routes whose own resourceVersion and whose other inputs (a
// fingerprint of every object that is not a route, over the Snapshot fields listed in
// inputFields, which TestInputFieldsCoverSnapshot keeps complete; for Gateway API and our
// resources, of their generation, labels and annotations, so status writes do not count)
// are unchanged:
//   - the encoded pieces (configdelta.EncodeReusing), with their digests, so encoding and
//     the content hash cost one route per route change;
//   - the verdict of the proxy's checks (checkBuiltRoute);
//   - the built HTTPRoute, when building it left no mark but the backends it resolved
//     (builtHTTPRoute: its backendRefs are resolved again, which registers the backends);
//   - the assembled HTTP route and its EffectiveRoutes on each listener, when no policy
//     reaches it (assembledRoute: only its marks on the backends it uses are made again).
//
// Attachment, policies, status and the order of routes are still computed over the whole
// snapshot. BenchmarkTranslate/reusing/1000 (hack/bench/routes) measures a translation of
// 1000 routes after the one before a route was added, to compare with
// BenchmarkTranslate/1000 from scratch. Its result equals Translate's;
// TestTranslateReusingEqualsTranslate checks that for every golden input translated after
// every other one.
package translate
