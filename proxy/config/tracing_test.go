package config

import (
	"strings"
	"testing"
)

func TestValidateTracing(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	no := false
	base := func(tr *Tracing) *Config {
		return &Config{Version: "1",
			Backends: []Backend{{Name: "otel", Endpoints: []Endpoint{{Address: "10.0.0.1:4317"}}}, {Name: "raw", Protocol: BackendTCP, Endpoints: []Endpoint{{Address: "10.0.0.1:9"}}}},
			Binds:    []Bind{{Name: "a", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, Tracing: tr}}}}}
	}
	for _, tc := range []struct {
		name string
		tr   *Tracing
		want []string // substrings, one per error, in order
	}{
		{"address", &Tracing{Address: "collector:4317", SamplingRate: f(0.5), Condition: `request.path.startsWith("/api")`,
			Attributes: []TracingAttribute{{Name: "env", Value: "prod"}, {Name: "tenant", Header: "x-tenant"}, {Name: "m", Attribute: "http.request.method"}, {Name: "p", Expression: "request.path"}}}, nil},
		{"backend http", &Tracing{Backend: "otel", Protocol: TracingHTTP, Path: "/otlp/v1/traces", Headers: []TracingHeader{{Name: "authorization", Value: "Bearer x"}}}, nil},
		{"no endpoint", &Tracing{}, []string{"tracing: exactly one of backend and address"}},
		{"both", &Tracing{Backend: "otel", Address: "a:1"}, []string{"exactly one of backend and address"}},
		{"unknown backend", &Tracing{Backend: "nope"}, []string{`tracing.backend: backend "nope" is not defined`}},
		{"tcp backend", &Tracing{Backend: "raw"}, []string{"is a TCP backend"}},
		{"bad address", &Tracing{Address: "collector"}, []string{"tracing.address: must be host:port"}},
		{"protocol", &Tracing{Address: "a:1", Protocol: "zipkin"}, []string{"tracing.protocol: must be grpc or http"}},
		{"grpc path", &Tracing{Address: "a:1", Path: "/x"}, []string{"tracing.path: only for protocol http"}},
		{"rates", &Tracing{Address: "a:1", SamplingRate: f(1.5), ParentBased: &no, ParentSamplingRate: f(-1)}, []string{"samplingRate: must be between 0 and 1", "parentSamplingRate: must be between 0 and 1", "parentSamplingRate: only with parentBased"}},
		{"condition", &Tracing{Address: "a:1", Condition: `response.code == 200`}, []string{"tracing.condition:", "not available in phase Tracing"}},
		{"attributes", &Tracing{Address: "a:1", Attributes: []TracingAttribute{{Name: "a"}, {Name: "a", Value: "x", Header: "y"}, {Name: "b", Attribute: "http.nope"}, {Name: "bad name", Value: "x"}}},
			[]string{"attributes[0]: exactly one of", `attributes[1].name: duplicate attribute "a"`, "attributes[1]: exactly one of", `attributes[2].attribute: "http.nope" is not an attribute`, "attributes[3].name: must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := base(tc.tr).Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %v", tc.want)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
	tr := &Tracing{Address: "a:1", Headers: []TracingHeader{{Name: "authorization", Value: "Bearer secret"}}}
	if got := base(tr).Redacted().Binds[0].Listeners[0].Tracing.Headers[0].Value; got != RedactedValue {
		t.Errorf("redacted export header = %q", got)
	}
}
