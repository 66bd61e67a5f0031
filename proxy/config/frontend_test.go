package config

import (
	"strings"
	"testing"
	"time"
)

func frontendConfig(b Bind) *Config {
	b.Name, b.Port = "b", 8080
	if b.Protocol == "" {
		b.Protocol = ProtocolHTTP
	}
	l := Listener{Name: "l", Protocol: b.Protocol}
	if b.Protocol == ProtocolHTTPS {
		l.TLS = &ListenerTLS{Certificates: []Certificate{{CertChain: "x", PrivateKey: "y"}}}
	}
	b.Listeners = []Listener{l}
	return &Config{Version: "1", Binds: []Bind{b}}
}

func TestFrontendValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Bind
		want string // "" is valid
	}{
		{"all set", Bind{Frontend: &Frontend{MaxRequestHeaderBytes: 8192, RequestHeaderTimeout: D(time.Second), IdleTimeout: D(time.Minute),
			HTTP2MaxConcurrentStreams: 100, TCPKeepalive: &FrontendKeepalive{Time: D(30 * time.Second), Interval: D(5 * time.Second), Probes: 3}}}, ""},
		{"header bytes too small", Bind{Frontend: &Frontend{MaxRequestHeaderBytes: 100}}, "binds[0].frontend.maxRequestHeaderBytes: must be 1024-1048576, got 100"},
		{"zero timeout", Bind{Frontend: &Frontend{IdleTimeout: D(0)}}, "binds[0].frontend.idleTimeout: must be positive"},
		{"streams", Bind{Frontend: &Frontend{HTTP2MaxConcurrentStreams: 10001}}, "binds[0].frontend.http2MaxConcurrentStreams: must be 1-10000"},
		{"keepalive fraction", Bind{Frontend: &Frontend{TCPKeepalive: &FrontendKeepalive{Time: D(1500 * time.Millisecond)}}}, "binds[0].frontend.tcpKeepalive.time: must be a whole number of seconds"},
		{"probes", Bind{Frontend: &Frontend{TCPKeepalive: &FrontendKeepalive{Probes: 65}}}, "binds[0].frontend.tcpKeepalive.probes: must be 1-64"},
		{"http settings on TCP", Bind{Protocol: ProtocolTCP, Frontend: &Frontend{IdleTimeout: D(time.Second)}}, "apply only to HTTP and HTTPS binds"},
		{"keepalive on TCP", Bind{Protocol: ProtocolTCP, Frontend: &Frontend{TCPKeepalive: &FrontendKeepalive{Probes: 2}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := frontendConfig(tc.b)
			if tc.b.Protocol == ProtocolTCP {
				c.Binds[0].Listeners[0].L4Routes = nil
			}
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil && strings.Contains(err.Error(), "frontend"):
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCipherSuites(t *testing.T) {
	if _, err := CipherSuite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"TLS_AES_128_GCM_SHA256":             "is a TLS 1.3 cipher suite",
		"TLS_RSA_WITH_RC4_128_SHA":           "insecure",
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA": "unknown cipher suite",
	} {
		if _, err := CipherSuite(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, want)
		}
	}
	c := frontendConfig(Bind{Protocol: ProtocolHTTPS})
	c.Binds[0].Listeners[0].TLS.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "NOPE"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `binds[0].listeners[0].tls.cipherSuites[1]: unknown cipher suite "NOPE"`) {
		t.Errorf("unknown name: %v", err)
	}
	c.Binds[0].Listeners[0].TLS.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
	c.Binds[0].Listeners[0].TLS.MinVersion = "1.3"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tls.cipherSuites: apply to TLS 1.2 only") {
		t.Errorf("suites with minVersion 1.3: %v", err)
	}
}

// TestFrontendErrorsOnce: each problem is reported once.
func TestFrontendErrorsOnce(t *testing.T) {
	c := frontendConfig(Bind{Protocol: ProtocolHTTPS, Frontend: &Frontend{HTTP2MaxConcurrentStreams: -1}})
	c.Binds[0].Listeners[0].TLS.CipherSuites = []string{"NOPE"}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"http2MaxConcurrentStreams", "cipherSuites[0]"} {
		if n := strings.Count(err.Error(), want); n != 1 {
			t.Errorf("%q reported %d times: %v", want, n, err)
		}
	}
}
