package config

import (
	"strings"
	"testing"
)

func TestValidatePreRouting(t *testing.T) {
	backends := []Backend{{Name: "authz", Endpoints: []Endpoint{{Address: "127.0.0.1:9000"}}}}
	cfg := func(p Protocol, fs ...ListenerFilter) *Config {
		l := Listener{Name: "l", Protocol: p, PreRouting: fs}
		return &Config{Version: "1", Backends: backends, Binds: []Bind{{Name: "b", Port: 8080, Protocol: p, Listeners: []Listener{l}}}}
	}
	ok := ListenerFilter{ExtAuth: &ExtAuth{Backend: "authz"}}
	if err := cfg(ProtocolHTTP, ok, ListenerFilter{ExtAuth: &ExtAuth{Backend: "authz", Protocol: ExtAuthGRPC}}, ListenerFilter{DirectResponse: &DirectResponse{StatusCode: 500}}).Validate(); err != nil {
		t.Fatalf("valid pre-routing filters: %v", err)
	}
	many := make([]ListenerFilter, maxPreRouting+1)
	for i := range many {
		many[i] = ok
	}
	for _, tc := range []struct {
		name string
		c    *Config
		want string
	}{
		{"tcp listener", cfg(ProtocolTCP, ok), "binds[0].listeners[0].preRouting: only HTTP and HTTPS listeners"},
		{"empty filter", cfg(ProtocolHTTP, ListenerFilter{}), "binds[0].listeners[0].preRouting[0]: set one of extAuth and directResponse"},
		{"two kinds", cfg(ProtocolHTTP, ListenerFilter{ExtAuth: ok.ExtAuth, DirectResponse: &DirectResponse{StatusCode: 500}}), "preRouting[0]: set exactly one"},
		{"unknown backend", cfg(ProtocolHTTP, ok, ListenerFilter{ExtAuth: &ExtAuth{Backend: "nope"}}), `preRouting[1].extAuth.backend: unknown backend "nope"`},
		{"bad header", cfg(ProtocolHTTP, ListenerFilter{ExtAuth: &ExtAuth{Backend: "authz", ForwardHeaders: []string{"a b"}}}), "preRouting[0].extAuth.headers[0]: invalid header name"},
		{"bad status", cfg(ProtocolHTTP, ListenerFilter{DirectResponse: &DirectResponse{StatusCode: 99}}), "preRouting[0].directResponse.statusCode: must be 200-599"},
		{"too many", cfg(ProtocolHTTP, many...), "preRouting: at most 16 filters, got 17"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
