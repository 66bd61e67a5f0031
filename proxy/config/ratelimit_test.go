package config

import (
	"errors"
	"testing"
	"time"
)

func TestGlobalRateLimitValidation(t *testing.T) {
	valid := func() *RateLimit {
		return &RateLimit{Global: &GlobalRateLimit{Backend: "rls", Domain: "d", Timeout: D(time.Second), FailureMode: RateLimitFailDeny,
			Descriptors: []RateLimitDescriptor{{Entries: []RateLimitDescriptorEntry{{Key: "user", Value: `request.headers["x-user"]`}}}}}}
	}
	const at = "binds[0].listeners[0].httpRoutes[0].rules[0].traffic.rateLimit"
	for _, tc := range []struct {
		name  string
		edit  func(*RateLimit)
		paths []string
	}{
		{"valid", func(*RateLimit) {}, nil},
		{"local and global", func(r *RateLimit) { r.Local = []LocalRateLimit{{Requests: 1, Unit: RateLimitSecond}} }, nil},
		{"neither", func(r *RateLimit) { r.Global = nil }, []string{at}},
		{"unknown backend", func(r *RateLimit) { r.Global.Backend = "nope" }, []string{at + ".global.backend"}},
		{"TLS backend", func(r *RateLimit) { r.Global.Backend = "tls" }, nil},
		{"no domain", func(r *RateLimit) { r.Global.Domain = "" }, []string{at + ".global.domain"}},
		{"no descriptors", func(r *RateLimit) { r.Global.Descriptors = nil }, []string{at + ".global.descriptors"}},
		{"no entries", func(r *RateLimit) { r.Global.Descriptors[0].Entries = nil }, []string{at + ".global.descriptors[0].entries"}},
		{"empty key", func(r *RateLimit) { r.Global.Descriptors[0].Entries[0].Key = "" }, []string{at + ".global.descriptors[0].entries[0].key"}},
		{"bad CEL", func(r *RateLimit) { r.Global.Descriptors[0].Entries[0].Value = `request.nope(` }, []string{at + ".global.descriptors[0].entries[0].value"}},
		{"not a string", func(r *RateLimit) { r.Global.Descriptors[0].Entries[0].Value = `1 + 1` }, []string{at + ".global.descriptors[0].entries[0].value"}},
		{"zero timeout", func(r *RateLimit) { r.Global.Timeout = D(0) }, []string{at + ".global.timeout"}},
		{"bad failure mode", func(r *RateLimit) { r.Global.FailureMode = "Maybe" }, []string{at + ".global.failureMode"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := valid()
			tc.edit(rl)
			c := &Config{
				Version: "1",
				Backends: []Backend{{Name: "rls", Endpoints: []Endpoint{{Address: "127.0.0.1:8081"}}},
					{Name: "tls", Endpoints: []Endpoint{{Address: "127.0.0.1:8443"}}, TLS: &BackendTLS{}}},
				Binds: []Bind{{Name: "a", Port: 80, Protocol: ProtocolHTTP, Listeners: []Listener{{Name: "l", Protocol: ProtocolHTTP, HTTPRoutes: []HTTPRoute{
					{RouteMeta: RouteMeta{Namespace: "n", Name: "r"}, Rules: []HTTPRouteRule{{Traffic: &TrafficPolicy{RateLimit: rl},
						Filters: []HTTPFilter{{DirectResponse: &DirectResponse{StatusCode: 200}}}}}},
				}}}}},
			}
			err := c.Validate()
			if tc.paths == nil {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want field errors", err)
			}
			if len(errs) != len(tc.paths) {
				t.Fatalf("got %v, want errors at %v", errs, tc.paths)
			}
			for i, e := range errs {
				if e.Path != tc.paths[i] {
					t.Errorf("error %d at %q (%s), want %q", i, e.Path, e.Msg, tc.paths[i])
				}
			}
		})
	}
}
