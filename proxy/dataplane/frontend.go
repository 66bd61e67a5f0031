package dataplane

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// frontend is how a bind serves its client connections: the proxy's
// defaults (Options) overridden by the bind's config.Frontend.
type frontend struct {
	maxHeaderBytes    int
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxStreams        int
	// keepalive, when set, replaces Go's default keep-alive probing (15s
	// idle, 15s interval, 9 probes) of accepted connections.
	keepalive *net.KeepAliveConfig
}

func (rt *Runtime) frontendFor(b *config.Bind) frontend {
	o := &rt.opts
	fe := frontend{
		maxHeaderBytes:    o.MaxHeaderBytes,
		readHeaderTimeout: o.ReadHeaderTimeout,
		idleTimeout:       o.IdleTimeout,
		maxStreams:        o.MaxConcurrentStreams,
	}
	f := b.Frontend
	if f == nil {
		return fe
	}
	if f.MaxRequestHeaderBytes > 0 {
		fe.maxHeaderBytes = f.MaxRequestHeaderBytes
	}
	if f.RequestHeaderTimeout != nil {
		fe.readHeaderTimeout = f.RequestHeaderTimeout.Duration
	}
	if f.IdleTimeout != nil {
		fe.idleTimeout = f.IdleTimeout.Duration
	}
	if f.HTTP2MaxConcurrentStreams > 0 {
		fe.maxStreams = f.HTTP2MaxConcurrentStreams
	}
	if k := f.TCPKeepalive; k != nil {
		// Zero fields keep Go's defaults.
		kc := &net.KeepAliveConfig{Enable: true, Count: k.Probes}
		if k.Time != nil {
			kc.Idle = k.Time.Duration
		}
		if k.Interval != nil {
			kc.Interval = k.Interval.Duration
		}
		fe.keepalive = kc
	}
	return fe
}

// frontendIdentity is the part of a bind's identity its frontend settings
// make: they are fixed when the socket and its http.Server are made.
func frontendIdentity(b *config.Bind) string {
	f := b.Frontend
	if f == nil {
		return ""
	}
	d := func(x *config.Duration) time.Duration {
		if x == nil {
			return -1
		}
		return x.Duration
	}
	s := fmt.Sprintf("%d|%d|%d|%d", f.MaxRequestHeaderBytes, d(f.RequestHeaderTimeout), d(f.IdleTimeout), f.HTTP2MaxConcurrentStreams)
	if k := f.TCPKeepalive; k != nil {
		s += fmt.Sprintf("|ka %d|%d|%d", d(k.Time), d(k.Interval), k.Probes)
	}
	return s
}

// clients is the bind's socket as its servers accept from it: with the
// proxy's connection cap and the bind's keep-alive settings.
func (s *server) clients() net.Listener {
	return &limitListener{Listener: s.ln, lim: s.rt.conns, keepalive: s.fe.keepalive}
}

// acceptedConn, when set (by tests), sees every connection a bind accepts.
var acceptedConn atomic.Pointer[func(net.Conn)]
