package main

import (
	"errors"
	"flag"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
)

// limitFlags are the proxy-wide limits and timeouts of client connections
// (proxy/README.md, "Limits and timeouts"). A Gateway's frontend policy
// overrides the per-connection ones for its ports.
type limitFlags struct {
	maxConnections        int
	maxHeaderBytes        int
	http2MaxStreams       int
	requestHeaderTimeout  time.Duration
	idleTimeout           time.Duration
	requestBodyTimeout    time.Duration
	responseHeaderTimeout time.Duration
}

func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	l := &limitFlags{}
	fs.IntVar(&l.maxConnections, "max-connections", 0, "client connections open at once on all binds; more are closed when accepted (0: half the open-file limit less 256, at most 100000)")
	fs.IntVar(&l.maxHeaderBytes, "max-request-header-bytes", 64<<10, "largest request head (answered 431 beyond)")
	fs.IntVar(&l.http2MaxStreams, "http2-max-concurrent-streams", 1000, "concurrent HTTP/2 and HTTP/3 streams per client connection")
	fs.DurationVar(&l.requestHeaderTimeout, "request-header-timeout", 10*time.Second, "time a client has to send a request head")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", 120*time.Second, "keep-alive connections idle this long are closed")
	fs.DurationVar(&l.requestBodyTimeout, "request-body-timeout", dataplane.DefaultRequestBodyTimeout, "longest wait for the next bytes of a request body (408 and both connections closed); 0 is none")
	fs.DurationVar(&l.responseHeaderTimeout, "response-header-timeout", dataplane.DefaultResponseHeaderTimeout, "longest wait for a backend's response head on routes without timeouts.request or timeouts.backendRequest (504); 0 is none")
	return l
}

func (l *limitFlags) validate() error {
	switch {
	case l == nil:
		return nil
	case l.maxConnections < 0:
		return errors.New("--max-connections must not be negative")
	case l.maxHeaderBytes < 1024:
		return errors.New("--max-request-header-bytes must be at least 1024")
	case l.http2MaxStreams < 1:
		return errors.New("--http2-max-concurrent-streams must be positive")
	case l.requestHeaderTimeout <= 0 || l.idleTimeout <= 0:
		return errors.New("--request-header-timeout and --idle-timeout must be positive")
	case l.requestBodyTimeout < 0 || l.responseHeaderTimeout < 0:
		return errors.New("--request-body-timeout and --response-header-timeout must not be negative")
	}
	return nil
}

// apply sets the limits in o.
func (l *limitFlags) apply(o dataplane.Options) dataplane.Options {
	if l == nil {
		return o
	}
	off := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1 // none; 0 would take the runtime's default
		}
		return d
	}
	o.MaxConnections = l.maxConnections
	o.MaxHeaderBytes = l.maxHeaderBytes
	o.MaxConcurrentStreams = l.http2MaxStreams
	o.ReadHeaderTimeout = l.requestHeaderTimeout
	o.IdleTimeout = l.idleTimeout
	o.RequestBodyTimeout = off(l.requestBodyTimeout)
	o.ResponseHeaderTimeout = off(l.responseHeaderTimeout)
	return o
}
