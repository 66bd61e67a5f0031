// Package l4 forwards TCP, TLS and UDP traffic for the Gateway API's
// TCPRoute, TLSRoute (passthrough and terminate) and UDPRoute listeners.
//
// It knows nothing of Kubernetes or of proxy/config: the runtime maps its
// listener and route config onto the small types here, one Server (TCP and
// TLS) or UDPServer per listener, and keeps that server across reloads.
//
// # Lifecycle
//
//	s, err := l4.NewServer(l4.Config{...}, logger) // validate, build
//	go s.Serve(ln)                                 // ln is owned by s from now on
//	err = s.Update(newConfig)                      // atomic swap; ln stays bound
//	err = s.Shutdown(ctx)                          // close ln, drain, then abort at ctx
//
// Update validates before it swaps, so a rejected config changes nothing.
// New connections use the config current at accept time; established
// connections keep their backend until they end, because cutting a
// long-lived TCP stream on every route change would be an outage.
//
// # Modes
//
// A Config with neither Passthrough nor TLS is plain TCP: every connection
// goes to the route without hostnames. With Passthrough, the server reads
// the client's ClientHello (whole records, at most 64 KiB, within
// HandshakeTimeout), picks the route by SNI, dials the backend and replays
// those bytes before splicing, so the backend terminates TLS. With TLS set,
// the server terminates TLS itself and routes by the negotiated SNI; the
// backend receives plaintext. A passthrough listener may also terminate
// some routes (Route.Terminate): the ClientHello read for routing is then
// replayed into the proxy's own handshake, so Passthrough and Terminate
// listeners can share one port.
//
// SNI routing follows the Gateway API: an exact hostname beats any
// wildcard; "*.example.com" matches one or more labels in front of
// example.com but not example.com itself; among wildcards the longest
// suffix wins; a route without hostnames catches everything else,
// including clients that send no SNI. When routes share a hostname, the
// earlier route in Config.Routes keeps it, so the translator passes routes
// in precedence order. No match closes the connection.
//
// # Forwarding
//
// A route's backend is picked at random in proportion to WeightedTarget
// weights; weight 0 switches a target off, and a route with no weight left
// closes the connection (the L4 form of the spec's 500). Bytes are copied
// both ways with pooled 32 KiB buffers. EOF in one direction becomes a
// half-close on the other side (FIN, or close_notify on terminated TLS)
// while the other direction runs on. IdleTimeout, measured over both
// directions together by one timer per connection, closes connections
// that move no bytes.
//
// # UDP
//
// A UDPServer keeps one session per client address: a connected socket to
// a backend chosen at the client's first datagram, with a goroutine that
// relays replies through the listener socket. Sessions end after
// IdleTimeout without traffic; at MaxSessions, datagrams from new clients
// are dropped rather than evicting established ones.
//
// # Observability
//
// Server.Stats and UDPServer.Stats return cumulative counters for the
// runtime to export as metrics. Per-connection failures log at debug level
// only, since a scanner could otherwise flood the log.
package l4
