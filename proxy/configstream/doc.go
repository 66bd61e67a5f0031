// Package configstream is the protocol between the operator and its proxies: one
// bidirectional gRPC stream per proxy over which the operator pushes versioned proxy
// configurations (proxy/config.Config), whole or as their changes from the version the
// proxy runs, and the proxy answers each with an ACK or a NACK carrying the error text.
//
// # Why a hand-registered gRPC service with a JSON codec
//
// The proxy's contract is proxy/config.Config, a plain Go struct with json tags that is
// also the --config file format. Carrying it as JSON over gRPC keeps one schema (no .proto
// mirror to keep in sync, no protoc in the build) while keeping what gRPC gives for free:
// HTTP/2 multiplexing, flow control, deadlines, keepalive, status codes and metadata for the
// bearer token. The service is registered by hand (ServiceDesc) and both sides force the
// codec (grpc.ForceServerCodec / grpc.ForceCodec), so nothing is registered globally and
// the wire is self-describing JSON that can be inspected when debugging.
//
// # Transport security
//
// The stream carries what a Gateway's proxies need to serve it, which includes TLS private
// keys, API keys and other credentials, so it only runs over TLS 1.3 and both ends are
// authenticated; there is no plaintext mode and no fallback to one.
//
// The server proves who it is with a certificate from the operator's own CA. The operator
// keeps that CA in a Secret in its namespace (operator/configserver.LoadOrCreateCA: created
// on first start, the key never leaves that namespace) and every replica issues itself a
// short-lived serving certificate from it (package streamcert: 7 days, renewed after two
// thirds) for the host of the address proxies dial, --xds-address, normally the Service
// name agentgateway-xds.<namespace>.svc. The server reads the current certificate at each
// handshake (ServerTLS with streamcert.Serving.GetCertificate), so a renewal reaches new
// connections while established streams keep theirs and are never cut for it. A private
// CA rather than the cluster's: proxies need a root they were given explicitly, and the
// webhook certificate's CA is only maintained while webhooks are enabled.
//
// The proxy trusts only the operator's CAs: the deployer puts their certificates (the
// signing CA, the next one during a rotation, and replaced ones until they expire) in a
// ConfigMap beside the proxy Deployment, mounted and passed as --xds-ca-file
// (Client.CAFile). The client reads the file again on every connection attempt, so a
// rotated CA reaches proxies with the kubelet's ConfigMap refresh, without a restart
// (operator/configserver.CAKeeper has the rules), and verifies the server
// certificate for the host of Client.Address: a server on the right address with a
// certificate from another CA, or for another name, is refused and never sees the token
// (the handshake fails before any request). Without a CA file the client does not start.
//
// The proxy proves who it is with its projected ServiceAccount token (audience
// agentgateway, one hour, bound to its pod), sent as request metadata over that verified
// channel; see Authenticator below.
//
// # Connection failures
//
// Each connection attempt is a fresh gRPC channel (resolving the address again) and a stream
// opened without waiting for readiness, so a name that does not resolve, a refused or
// timed-out connection, or a failed handshake ends the attempt at once: Run logs it as a
// warning with the address and the reason, calls Client.StreamEnded (the proxy shows the
// reason on /ready until it has a config) and retries with exponential back-off from
// MinBackoff to MaxBackoff (30 s) with jitter. The operator sees it too: a Running proxy
// pod without a stream past a grace period is listed disconnected in proxystatuses and
// named in a ConfigStreamDisconnected Event on its Gateway (operator/configserver.Disconnects).
//
// # Deltas
//
// A Gateway's config grows with its routes, while a change to one Kubernetes object changes
// one route or backend, so decoding a whole config on every change costs a proxy in
// proportion to the Gateway's size rather than to the change (BenchmarkPushEncode and
// BenchmarkPushDecode in hack/bench/routes measure both forms: go test -run '^$' -bench
// Push ./hack/bench/routes). So after a proxy acknowledged a version on its stream, the
// next ones go as configdelta.Delta: the binds and listeners, and the list of route keys
// and backend names, each only when it changed, and the routes and backends that are new
// or changed. The proxy rebuilds the
// whole config from the one it runs (configdelta.Apply) and applies that, exactly as it
// would the whole config; the runtime still swaps whole snapshots.
//
// Deltas need the server to know what the proxy runs, so a push waits for the answer to
// the previous one (versions published meanwhile coalesce into one push of the newest).
// A proxy announces that it applies deltas (Request.Deltas); proxies that do not, and
// every proxy's first push on a stream, get whole configs. A proxy that cannot rebuild a
// config from a delta answers with Resend and receives the version whole; that is not a
// rejection.
//
// # Protocol
//
//	proxy -> operator  Request{Node, Running, Deltas}              first message: identity, version it runs (resume), delta support
//	operator -> proxy  Response{Version, Nonce, Config}            a new version, whole (skipped if Running == latest)
//	operator -> proxy  Response{Version, Nonce, Delta}             a new version, as its changes from Delta.Base (the version the proxy runs)
//	proxy -> operator  Request{Version, Nonce}                     ACK: applied
//	proxy -> operator  Request{Version, Nonce, Error}              NACK: rejected, nothing changed on the proxy
//	proxy -> operator  Request{Version, Nonce, Error, Resend}      the delta could not be rebuilt: send the version whole
//	proxy -> operator  Request{Heartbeat: true, Running}           every HeartbeatInterval
//
// The stream carries the metadata "authorization: Bearer <ServiceAccount token>". The
// server asks an Authenticator (the operator implements it with a TokenReview; this package
// stays free of Kubernetes imports because the proxy imports it) whether that token may read
// the Gateway the Node names; a proxy can only ever receive its own Gateway's config.
//
// Versions are content hashes of the config's pieces (see VersionOf), so a republished
// identical config is not pushed again and a reconnecting proxy that already runs the
// latest version receives nothing. A proxy that loses the stream keeps serving its last
// good config and reconnects with exponential back-off.
package configstream
