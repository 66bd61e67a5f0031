package translate

import (
	"fmt"
	"reflect"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// The connection settings of frontend.http (header size and timeouts, HTTP/2 streams) and
// frontend.tcp (keep-alive) belong to a port in the proxy: they are fixed when a connection
// is accepted, before its Host or SNI tells the listener. The first listener of a port
// that has them decides the port's; a listener on the same port whose merged settings
// differ reports them as not applied.

// cipherSuitesRefused returns why a frontend.tls cipherSuites list cannot be used, or "".
func cipherSuitesRefused(v *agwv1a1.FrontendTLS) string {
	if len(v.CipherSuites) == 0 {
		return ""
	}
	if v.MinVersion != nil && *v.MinVersion == "1.3" {
		return "not applied: cipher suites apply to TLS 1.2, which minVersion 1.3 turns off"
	}
	for _, name := range v.CipherSuites {
		if _, err := config.CipherSuite(name); err != nil {
			return "not applied (the listener keeps the default suites): " + err.Error()
		}
	}
	return ""
}

// frontendHTTP maps frontend.http's connection settings; it reports whether any is set,
// and calls note for a timeout that is not positive, which is not applied.
func frontendHTTP(out *config.Frontend, v *agwv1a1.FrontendHTTP, note func(field, why string)) (set bool) {
	timeout := func(name string, in *agwv1a1.Duration, dst **config.Duration) {
		if in == nil {
			return
		}
		if d := duration(in); d != nil {
			*dst = d
			set = true
			return
		}
		note("frontend.http."+name, fmt.Sprintf("%q not applied: it must be positive (the proxy's default applies)", string(*in)))
	}
	if v.MaxRequestHeadersKB != nil {
		out.MaxRequestHeaderBytes = int(*v.MaxRequestHeadersKB) << 10
		set = true
	}
	timeout("requestHeaderTimeout", v.RequestHeaderTimeout, &out.RequestHeaderTimeout)
	timeout("idleTimeout", v.IdleTimeout, &out.IdleTimeout)
	if v.HTTP2MaxConcurrentStreams != nil {
		out.HTTP2MaxConcurrentStreams = int(*v.HTTP2MaxConcurrentStreams)
		set = true
	}
	return set
}

// frontendTCP maps frontend.tcp.keepalive; it returns why it cannot be used, or "".
func frontendTCP(out *config.Frontend, v *agwv1a1.FrontendTCP) string {
	k := v.Keepalive
	if k == nil {
		return ""
	}
	ka := &config.FrontendKeepalive{Time: duration(k.Time), Interval: duration(k.Interval)}
	for _, d := range []*config.Duration{ka.Time, ka.Interval} {
		if d != nil && (d.Duration < time.Second || d.Duration%time.Second != 0) {
			return fmt.Sprintf("not applied: keep-alive time and interval must be whole seconds, at least 1s; got %s", d.Duration)
		}
	}
	if k.Probes != nil {
		ka.Probes = int(*k.Probes)
	}
	out.TCPKeepalive = ka
	return ""
}

// bindFrontend gives a bind the connection settings of listener l (see above).
func (t *translator) bindFrontend(b *config.Bind, l *listenerIR) {
	fs := l.frontend
	if fs == nil || fs.httpSrc == nil && fs.tcpSrc == nil || transport(l.protocol) == "UDP" {
		return
	}
	want := fs.bind
	if fs.httpSrc != nil && l.protocol != gwv1.HTTPProtocolType && l.protocol != gwv1.HTTPSProtocolType {
		// TCP and TLS listeners take only the keep-alive.
		t.policies.stat(fs.httpSrc).note("frontend.http", "not applied: listener "+l.configName()+" is not an HTTP or HTTPS listener")
		want = config.Frontend{TCPKeepalive: want.TCPKeepalive}
		if want.TCPKeepalive == nil {
			return
		}
	}
	if b.Frontend == nil {
		b.Frontend = &want
		return
	}
	have := b.Frontend
	differ := func(field string, src *agwv1a1.AgentgatewayPolicy, same bool) {
		if src != nil && !same {
			t.policies.stat(src).note(field, fmt.Sprintf("not applied to listener %s: it applies to a whole port, and port %d uses the setting of another listener", l.configName(), l.port))
		}
	}
	httpOf := func(f config.Frontend) config.Frontend {
		f.TCPKeepalive = nil
		return f
	}
	differ("frontend.http", fs.httpSrc, reflect.DeepEqual(httpOf(*have), httpOf(want)))
	differ("frontend.tcp", fs.tcpSrc, reflect.DeepEqual(have.TCPKeepalive, want.TCPKeepalive))
}
