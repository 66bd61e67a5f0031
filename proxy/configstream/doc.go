// Package configstream is the protocol between the operator and its proxies: one
// bidirectional gRPC stream per proxy over which the operator pushes whole, versioned
// proxy configurations (proxy/config.Config) and the proxy answers each with an ACK or a
// NACK carrying the error text.
//
// # Why a hand-registered gRPC service with a JSON codec
//
// The proxy's contract is proxy/config.Config, a plain Go struct with json tags that is
// also the --config file format. Carrying it as JSON over gRPC keeps one schema (no .proto
// mirror to keep in sync, no protoc in the build) while keeping what gRPC gives for free:
// HTTP/2 multiplexing, flow control, deadlines, keepalive, status codes and metadata for the
// bearer token. The service is registered by hand (ServiceDesc) and both sides force the
// codec (grpc.ForceServerCodec / grpc.ForceCodec), so nothing is registered globally and
// the wire is self-describing JSON that can be inspected when debugging. A config is sent
// whole: one Gateway's config is small (kilobytes to a few megabytes) and a whole-snapshot
// swap is what the proxy runtime does anyway, so a delta protocol would only move the merge.
//
// # Protocol
//
//	proxy -> operator  Request{Node, Running}                      first message: identity + version it runs (resume)
//	operator -> proxy  Response{Version, Nonce, Config}            a new snapshot (skipped if Running == latest)
//	proxy -> operator  Request{Version, Nonce}                     ACK: applied
//	proxy -> operator  Request{Version, Nonce, Error}              NACK: rejected, nothing changed on the proxy
//	proxy -> operator  Request{Heartbeat: true, Running}           every HeartbeatInterval
//
// The stream carries the metadata "authorization: Bearer <ServiceAccount token>". The
// server asks an Authenticator (the operator implements it with a TokenReview; this package
// stays free of Kubernetes imports because the proxy imports it) whether that token may read
// the Gateway the Node names; a proxy can only ever receive its own Gateway's config.
//
// Versions are content hashes chosen by the publisher (see VersionOf), so a republished
// identical config is not pushed again and a reconnecting proxy that already runs the
// latest version receives nothing. A proxy that loses the stream keeps serving its last
// good config and reconnects with exponential back-off.
package configstream
