package config

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// Frontend tunes how a bind serves its client connections. Unset fields
// take the proxy's defaults (its command-line flags). The settings belong
// to the socket, not to one listener: a change re-opens the bind (open
// connections drain as on removal).
type Frontend struct {
	// MaxRequestHeaderBytes bounds the request line and headers of HTTP/1
	// requests (and the decoded header list of HTTP/2 and HTTP/3). A
	// larger request head is answered with 431. 1024 - 1 MiB.
	MaxRequestHeaderBytes int `json:"maxRequestHeaderBytes,omitempty"`
	// RequestHeaderTimeout bounds how long a client may take to send a
	// request head; after it the connection is closed.
	RequestHeaderTimeout *Duration `json:"requestHeaderTimeout,omitempty"`
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout *Duration `json:"idleTimeout,omitempty"`
	// HTTP2MaxConcurrentStreams is the HTTP/2 (and HTTP/3) streams a client
	// connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
	// 1 - 10000.
	HTTP2MaxConcurrentStreams int `json:"http2MaxConcurrentStreams,omitempty"`
	// TCPKeepalive sets TCP keep-alive probes on accepted connections.
	TCPKeepalive *FrontendKeepalive `json:"tcpKeepalive,omitempty"`
}

// FrontendKeepalive is the keep-alive probing of an accepted TCP socket. Unset fields take
// the system's defaults.
type FrontendKeepalive struct {
	// Time is how long a connection is idle before the first probe.
	Time *Duration `json:"time,omitempty"`
	// Interval is the time between unanswered probes.
	Interval *Duration `json:"interval,omitempty"`
	// Probes is how many unanswered probes close the connection. 1 - 64.
	Probes int `json:"probes,omitempty"`
}

// Bounds of the Frontend fields.
const (
	MinRequestHeaderBytes      = 1 << 10
	MaxRequestHeaderBytes      = 1 << 20
	MaxHTTP2Streams            = 10000
	maxFrontendKeepaliveProbes = 64
)

// CipherSuite returns the ID of a TLS 1.2 cipher suite by its IANA name
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"). TLS 1.3 suites are refused:
// they are not configurable. Suites crypto/tls calls insecure are refused
// too.
func CipherSuite(name string) (uint16, error) {
	for _, s := range tls.CipherSuites() {
		if s.Name != name {
			continue
		}
		if !supportsTLS12(s) {
			return 0, fmt.Errorf("%s is a TLS 1.3 cipher suite; TLS 1.3 suites are always enabled and cannot be chosen", name)
		}
		return s.ID, nil
	}
	for _, s := range tls.InsecureCipherSuites() {
		if s.Name == name {
			return 0, fmt.Errorf("%s is an insecure cipher suite and is not supported", name)
		}
	}
	return 0, fmt.Errorf("unknown cipher suite %q; supported TLS 1.2 suites: %s", name, strings.Join(TLS12CipherSuites(), ", "))
}

// TLS12CipherSuites lists the names CipherSuite accepts.
func TLS12CipherSuites() []string {
	var names []string
	for _, s := range tls.CipherSuites() {
		if supportsTLS12(s) {
			names = append(names, s.Name)
		}
	}
	return names
}

func supportsTLS12(s *tls.CipherSuite) bool {
	for _, v := range s.SupportedVersions {
		if v == tls.VersionTLS12 {
			return true
		}
	}
	return false
}

func (v *validator) bindFrontend(b *Bind) {
	f := b.Frontend
	http := b.Protocol == ProtocolHTTP || b.Protocol == ProtocolHTTPS
	if !http && (f.MaxRequestHeaderBytes != 0 || f.RequestHeaderTimeout != nil || f.IdleTimeout != nil || f.HTTP2MaxConcurrentStreams != 0) {
		v.addf("", "maxRequestHeaderBytes, requestHeaderTimeout, idleTimeout and http2MaxConcurrentStreams apply only to HTTP and HTTPS binds, not %s", b.Protocol)
	}
	if b.Protocol == ProtocolUDP && f.TCPKeepalive != nil {
		v.addf(".tcpKeepalive", "not allowed on UDP binds")
	}
	if f.MaxRequestHeaderBytes != 0 && (f.MaxRequestHeaderBytes < MinRequestHeaderBytes || f.MaxRequestHeaderBytes > MaxRequestHeaderBytes) {
		v.addf(".maxRequestHeaderBytes", "must be %d-%d, got %d", MinRequestHeaderBytes, MaxRequestHeaderBytes, f.MaxRequestHeaderBytes)
	}
	positive := func(field string, d *Duration) {
		if d != nil && d.Duration <= 0 {
			v.addf(field, "must be positive, got %s", d.Duration)
		}
	}
	positive(".requestHeaderTimeout", f.RequestHeaderTimeout)
	positive(".idleTimeout", f.IdleTimeout)
	if n := f.HTTP2MaxConcurrentStreams; n != 0 && (n < 1 || n > MaxHTTP2Streams) {
		v.addf(".http2MaxConcurrentStreams", "must be 1-%d, got %d", MaxHTTP2Streams, n)
	}
	if k := f.TCPKeepalive; k != nil {
		// Linux takes whole seconds, at least one.
		second := func(field string, d *Duration) {
			if d != nil && (d.Duration < time.Second || d.Duration%time.Second != 0) {
				v.addf(field, "must be a whole number of seconds, at least 1s, got %s", d.Duration)
			}
		}
		second(".tcpKeepalive.time", k.Time)
		second(".tcpKeepalive.interval", k.Interval)
		if k.Probes < 0 || k.Probes > maxFrontendKeepaliveProbes {
			v.addf(".tcpKeepalive.probes", "must be 1-%d, got %d", maxFrontendKeepaliveProbes, k.Probes)
		}
	}
}

func (v *validator) cipherSuites(t *ListenerTLS) {
	if len(t.CipherSuites) > 0 && t.MinVersion == "1.3" {
		v.addf(".cipherSuites", "apply to TLS 1.2 only, which minVersion \"1.3\" turns off")
	}
	for i, name := range t.CipherSuites {
		if _, err := CipherSuite(name); err != nil {
			v.addAt(".cipherSuites", i, "%v", err)
		}
	}
}
