// Package proxy is the agentgateway data plane: a plain Go program that
// serves one Gateway's traffic from a typed configuration. It knows nothing
// of Kubernetes; TestNoForbiddenImports keeps it that way.
//
// # Data flow
//
//	source (file poller, config.Decode: strict) or configstream.Client (the operator's gRPC
//	stream, ACK/NACK; a delta is rebuilt into a whole config by configdelta.Apply)
//	  └─ dataplane.Apply/ApplyDelta: Config.Validate (every error, with field paths) ─ build the next
//	     generation beside the serving one (graph, backends, sockets) ─ swap it in whole, or
//	     discard it ─ drain removed binds
//	      └─ per request: bind ─ listener (Host/SNI) ─ router.Table ─ rule (policy steps in phase
//	         order, filters) ─ upstream.Backend
//
// # Packages
//
//   - config: the contract the operator fills. Plain structs with json
//     tags, decoded strictly from YAML or JSON; Validate reports every
//     problem at once; Redacted hides private keys for dumps.
//   - router: compiles a listener's HTTPRoutes into a matcher with the
//     exact Gateway API precedence (hostname specificity, Exact path,
//     longest PathPrefix on segment boundaries, regex, method, header
//     count, query count, route age, namespace/name, rule order).
//   - filters: the HTTPRoute filters (header modifiers, redirect, URL
//     rewrite, CORS, direct response, mirror), precompiled per config.
//   - upstream: per backend, kept across reloads while it is unchanged,
//     one tuned http.Transport and (plain HTTP/1.1 backends) a pool of h1
//     connections that the fast path and RoundTrip use; endpoint choice by
//     power of two choices on in-flight requests; passive ejection of
//     refusing endpoints; backend TLS with SAN verification.
//   - dataplane: binds (sockets) and the handler graph. HTTP/1.1 and h2c on
//     HTTP binds, where plain proxied HTTP/1.1 takes a fast path (package
//     h1, one goroutine per connection, no net/http) and everything else
//     is handed to net/http; HTTPS with per-SNI certificates, ALPN, client
//     certificates and 421 for coalesced connections; HTTP/3 (package h3)
//     on the same port; TCP, TLS passthrough/terminate and UDP through
//     package l4. The route graph, the all-or-nothing swap of a config's
//     generation, timeouts, retries, session persistence, mirroring and
//     metrics live here; a rule's traffic policies run as the steps of
//     package policy.
//   - policy: the interface between the request path and the traffic
//     policies (a Step per compiled policy, run in the phase order of its
//     table), and one package per policy under it: jwtauth, apikey,
//     basicauth, csrf, extauth (HTTP and gRPC), authz (CEL rules),
//     localratelimit, globalratelimit, bodylimit, transform; retrybudget
//     for the retrier; callout for the gRPC connections ext auth and
//     global rate limits share. They take what they need through
//     policy.Env and never import the data plane.
//   - l4, h3: connection-level forwarding and the HTTP/3 server, driven by
//     the dataplane.
//   - h1: the HTTP/1.1 wire format of the fast path: a request parser that
//     accepts only the unambiguous subset (the rest goes to net/http), a
//     response reader with the Transport's rules, body framing, and
//     connections with pooled buffers and raw non-blocking I/O.
//   - cel: the CEL environment shared with the operator's webhook.
//   - source, configstream: where configs come from (a polled file; the
//     operator's stream with ACK/NACK and reconnect). A bad config is
//     logged, counted (and NACKed), and the last good one keeps serving.
//   - configdelta: a config cut into pieces, its content-hash version, and
//     a version sent as its changes from the one the proxy runs.
//   - admin: /config_dump and /debug/pprof on a loopback listener; /healthz
//     and /ready, and /metrics, on listeners of their own for the kubelet and
//     Prometheus.
//   - cmd/proxy: flags, signal handling and graceful drain.
//
// # Threat model
//
// Who can reach which port of a proxy pod deployed by the operator:
//
//   - Listener ports (the Gateway's listeners): whoever the Gateway's Service
//     exposes them to; this is the traffic the proxy exists for.
//   - 15021 (--health-addr, /healthz and /ready) and 15020 (--metrics-addr,
//     /metrics) on the pod IP: anything that can route to the pod, usually the
//     kubelet and Prometheus. They reveal liveness, readiness with the reason
//     (the config server's address and error), and metric names and values
//     (route and backend names as labels), never config contents or secrets.
//   - 15000 (--admin-addr, /config_dump and /debug/pprof) on 127.0.0.1 only:
//     processes inside the pod (kubectl exec, port-forward). The config dump
//     redacts private keys but shows routes, backends and policies; profiles
//     can hold request data in memory, hence loopback. The admin port is not a
//     container port.
//
// The proxy dials out to one place: the operator's config server
// (--xds-address, port 9977 of the Service agentgateway-xds), which any pod
// can reach. The stream carries the proxy's whole config, which includes
// listener TLS private keys, backend client keys, API keys, JWT keys and
// other policy credentials, so it runs over TLS 1.3 only (package
// configstream, "Transport security"): the proxy verifies the operator's
// certificate against the CA it was given in a ConfigMap (--xds-ca-file) for
// the Service's DNS name, and refuses any other server, including one that
// took over the address; nothing is sent before the handshake succeeds.
//
// The operator authenticates the proxy by its projected ServiceAccount token:
// audience "agentgateway" (a token for the Kubernetes API is refused here, and
// this one is useless against the API), valid one hour, bound to the pod; the
// operator checks it with a TokenReview and serves a stream only for the
// Gateway whose ServiceAccount (<gateway>-agentgateway, in the Gateway's
// namespace) the token belongs to, and only to the pod it is bound to. A
// compromised proxy therefore reads exactly what it already serves: its own
// Gateway's config, including that Gateway's certificates and credentials,
// and nothing of other Gateways or namespaces. Its pod mounts no Kubernetes
// API token (automountServiceAccountToken is false), so it cannot read
// Secrets itself. What remains exposed to it is the CA certificate (public)
// and the config server's address; the CA key stays in the operator's
// namespace. Someone who can create pods with the proxy's ServiceAccount in
// the Gateway's namespace can read that Gateway's config, as they could read
// its Secrets anyway.
//
// # Reload guarantees
//
// A config is applied whole or not at all. Applying one builds its
// generation (dataplane/generation.go) beside the serving one: the config is
// validated; backends are prepared in the upstream pool, unchanged ones
// reused; rate limiters, retry budgets and ext-auth connections are taken
// from copies of the serving sets; routes, policies and listener TLS
// settings (certificates parsed) are compiled into a new graph; the L4
// routes of kept binds are compiled; and every new bind gets a server with
// its socket open but not serving. A bind that replaces one on the same
// address and port (a new name or protocol) gets a duplicate of that
// bind's socket, so the port stays open throughout. Any failure on the way
// discards the generation: its new sockets are closed (a duplicate leaves
// the original serving), its new backends and ext-auth connections are
// released, and the serving generation's state, sockets, config dump,
// generation number and metrics are as they were; the reload counts as
// failed. Otherwise the generation is swapped in with steps that cannot
// fail: one atomic store of the graph, the kept binds' states and L4
// routes, the pool, route cache and sets, then the new servers start and
// the dropped ones stop accepting and drain. Requests hold the graph they
// started with, so a swap never fails a request in flight; binds whose
// name, address, port and protocol are unchanged keep their socket and
// their client connections; backends whose config is unchanged keep their
// connection pools. A push from the operator usually carries one changed
// route as a delta; HTTP routes equal to the serving config's keep their
// compiled rules and are not validated again (dataplane/routecache.go, and with
// ApplyDelta the routes the delta did not carry are not even compared), so a
// reload costs about the routes that changed plus one pass to rebuild the
// router's table. BenchmarkProxyApply in hack/bench/routes measures it.
package proxy
