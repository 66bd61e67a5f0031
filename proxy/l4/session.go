package l4

import (
	"errors"
	"net"
	"time"
)

// Session reports one finished TCP or TLS connection, or UDP session, to
// Config.OnClose or UDPConfig.OnClose.
type Session struct {
	Start    time.Time
	Duration time.Duration
	// Route and Listener are empty when no route matched.
	Route, Listener string
	Client          string // the client's address
	Upstream        string // the backend endpoint, empty when none was picked
	SNI             string // the TLS server name, when there was TLS
	// Bytes (TCP, TLS) or datagram payload bytes (UDP) each way.
	BytesFromClient, BytesToClient uint64
	// Datagrams each way (UDP only).
	DatagramsFromClient, DatagramsToClient uint64
	// Reason says how it ended: one of the Reason constants.
	Reason string
}

// Why sessions end.
const (
	ReasonClosed    = "closed"           // both sides finished (TCP, TLS)
	ReasonIdle      = "idle_timeout"     // no bytes either way for the idle timeout
	ReasonShutdown  = "shutdown"         // the proxy closed it (drain, removed listener)
	ReasonHandshake = "handshake_failed" // no ClientHello, or the TLS handshake failed
	ReasonNoRoute   = "no_route"
	ReasonNoBackend = "no_backend"
	ReasonConnect   = "connect" // the backend could not be reached
	ReasonReset     = "reset"   // an error on either connection
)

// closeReason maps splice's result to a Reason.
func closeReason(err error, closing bool) string {
	switch {
	case err == nil:
		return ReasonClosed
	case errors.Is(err, errIdle):
		return ReasonIdle
	case closing || errors.Is(err, net.ErrClosed):
		return ReasonShutdown
	}
	return ReasonReset
}
