package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
	"github.com/agentgateway/agentgateway-go/proxy/ratelimit/ratelimittest"
)

// globalLimitPerMinute is the shared limit of the tests' rate-limit service.
const globalLimitPerMinute = 6

// rlsConfig is the service's configuration: each tenant gets
// globalLimitPerMinute requests a minute; tenant "tiny" one a minute.
var rlsConfig = fmt.Sprintf(`domain: agw-test
descriptors:
  - key: tenant
    value: tiny
    rate_limit:
      unit: minute
      requests_per_unit: 1
  - key: tenant
    rate_limit:
      unit: minute
      requests_per_unit: %d
`, globalLimitPerMinute)

// globalPolicy limits per x-tenant header value with the service behind
// backend rls.
func globalPolicy(mode config.RateLimitFailureMode, timeout time.Duration) *config.TrafficPolicy {
	return &config.TrafficPolicy{RateLimit: &config.RateLimit{Global: &config.GlobalRateLimit{
		Backend: "rls", Domain: "agw-test", Timeout: config.D(timeout), FailureMode: mode,
		Descriptors: []config.RateLimitDescriptor{{Entries: []config.RateLimitDescriptorEntry{{Key: "tenant", Value: `request.headers["x-tenant"]`}}}},
	}}}
}

func globalConfig(port int, rlsAddr, echoAddr string) *config.Config {
	rls := be("rls", rlsAddr)
	rls.Protocol = config.BackendH2C
	return &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/allow"), BackendRefs: to("echo"), Traffic: globalPolicy(config.RateLimitFailAllow, 2*time.Second)},
			config.HTTPRouteRule{Matches: pathPrefix("/deny"), BackendRefs: to("echo"), Traffic: globalPolicy(config.RateLimitFailDeny, 2*time.Second)},
			config.HTTPRouteRule{Matches: pathPrefix("/fast-deny"), BackendRefs: to("echo"), Traffic: globalPolicy(config.RateLimitFailDeny, 300*time.Millisecond)},
		)}})},
		Backends: []config.Backend{be("echo", echoAddr), rls},
	}
}

// TestGlobalRateLimitAcrossReplicas runs two proxy runtimes (two replicas)
// against one envoyproxy/ratelimit service on Redis: together they allow
// the shared limit, not twice it, and over-limit answers carry the
// service's X-RateLimit headers.
func TestGlobalRateLimitAcrossReplicas(t *testing.T) {
	svc := ratelimittest.Start(t, rlsConfig, ratelimittest.Options{Env: []string{
		"LIMIT_RESPONSE_HEADERS_ENABLED=true", "LIMIT_LIMIT_HEADER=X-RateLimit-Limit",
		"LIMIT_REMAINING_HEADER=X-RateLimit-Remaining", "LIMIT_RESET_HEADER=X-RateLimit-Reset",
	}})
	echo := startBackend(t, "echo", false)
	var bases []string
	for range 2 {
		port := freePort(t)
		rt := newRuntime(t)
		mustApply(t, rt, globalConfig(port, svc.Addr, echo.addr))
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	c := noRedirect()

	// The service counts in fixed windows aligned to the minute: a run that
	// crosses a minute boundary starts over with a new tenant.
	for attempt := 0; ; attempt++ {
		start := time.Now()
		tenant := "t" + strconv.FormatInt(start.UnixNano(), 36)
		allowed, limited := 0, 0
		var over response
		for i := range 2 * globalLimitPerMinute {
			r := get(t, c, bases[i%2]+"/allow", "", "X-Tenant", tenant)
			switch r.code {
			case http.StatusOK:
				allowed++
				if got := r.header.Get("X-RateLimit-Limit"); got == "" {
					t.Errorf("allowed request %d: no X-RateLimit-Limit header", i)
				}
			case http.StatusTooManyRequests:
				limited++
				over = r
			default:
				t.Fatalf("request %d: %d %s", i, r.code, r.body)
			}
		}
		if start.Truncate(time.Minute) != time.Now().Truncate(time.Minute) && attempt < 2 {
			continue
		}
		if allowed != globalLimitPerMinute || limited != globalLimitPerMinute {
			t.Fatalf("two replicas allowed %d and limited %d of %d requests; want %d allowed in all", allowed, limited, 2*globalLimitPerMinute, globalLimitPerMinute)
		}
		if got := over.header.Get("X-RateLimit-Remaining"); got != "0" {
			t.Errorf("429 X-RateLimit-Remaining = %q, want 0", got)
		}
		if got := over.header.Get("X-RateLimit-Limit"); got == "" {
			t.Errorf("429 has no X-RateLimit-Limit header")
		}
		if ra, err := strconv.Atoi(over.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("429 Retry-After = %q, want 1-60 seconds", over.header.Get("Retry-After"))
		}
		break
	}

	// A value-specific rule of the service wins over the key-only one.
	for attempt := 0; ; attempt++ {
		start := time.Now()
		tiny := []int{get(t, c, bases[0]+"/allow", "", "X-Tenant", "tiny").code, get(t, c, bases[1]+"/allow", "", "X-Tenant", "tiny").code}
		if start.Truncate(time.Minute) != time.Now().Truncate(time.Minute) && attempt < 2 {
			continue
		}
		// The first may already be over from an earlier run within this minute.
		if tiny[1] != http.StatusTooManyRequests {
			t.Errorf("tenant tiny (1 a minute): second request on the other replica got %d, want 429", tiny[1])
		}
		break
	}

	// Without the header the descriptor cannot be computed and is not sent:
	// such requests are not limited.
	for i := range 2*globalLimitPerMinute + 2 {
		if r := get(t, c, bases[i%2]+"/allow", ""); r.code != http.StatusOK {
			t.Fatalf("request %d without tenant: %d %s", i, r.code, r.body)
		}
	}
}

// TestGlobalRateLimitFailureMode stops the service: failureMode Allow lets
// requests through, Deny answers 503; both limit again once it is back.
// A service that accepts connections but never answers times out into the
// failure mode.
func TestGlobalRateLimitFailureMode(t *testing.T) {
	svc := ratelimittest.Start(t, rlsConfig, ratelimittest.Options{})
	echo := startBackend(t, "echo", false)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, globalConfig(port, svc.Addr, echo.addr))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := noRedirect()

	tenant := "f" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, path := range []string{"/allow", "/deny"} {
		if r := get(t, c, base+path, "", "X-Tenant", tenant); r.code != http.StatusOK {
			t.Fatalf("%s with the service up: %d %s", path, r.code, r.body)
		}
	}

	svc.Stop()
	for i := range 3 {
		if r := get(t, c, base+"/allow", "", "X-Tenant", "tiny"); r.code != http.StatusOK {
			t.Fatalf("failureMode Allow, service down, request %d: %d %s", i, r.code, r.body)
		}
		if r := get(t, c, base+"/deny", "", "X-Tenant", tenant); r.code != http.StatusServiceUnavailable {
			t.Fatalf("failureMode Deny, service down, request %d: %d %s", i, r.code, r.body)
		}
	}

	svc.Restart()
	// The proxy's connection reconnects with a backoff of at most 5s;
	// until it is back, calls fail (and Deny answers 503). Poll for that.
	deadline := time.After(15 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		r := get(t, c, base+"/deny", "", "X-Tenant", tenant)
		if r.code == http.StatusOK {
			break
		}
		if r.code != http.StatusServiceUnavailable {
			t.Fatalf("failureMode Deny after the service restarted: %d %s", r.code, r.body)
		}
		select {
		case <-deadline:
			t.Fatalf("failureMode Deny: still 503 15s after the service restarted")
		case <-poll.C:
		}
	}

	// A service that never answers: the call times out into the mode.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		for {
			conn, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, conn) // accepted, never read nor answered
		}
	}()
	silent := freePort(t)
	rt2 := newRuntime(t)
	mustApply(t, rt2, globalConfig(silent, ln.Addr().String(), echo.addr))
	start := time.Now()
	if r := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/fast-deny", silent), "", "X-Tenant", tenant); r.code != http.StatusServiceUnavailable {
		t.Fatalf("silent service, failureMode Deny: %d %s", r.code, r.body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("silent service: answered after %v, want about the 300ms timeout", took)
	}
	if r := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/allow", silent), "", "X-Tenant", tenant); r.code != http.StatusOK {
		t.Fatalf("silent service, failureMode Allow: %d %s", r.code, r.body)
	}
}

// TestGlobalRateLimitOverTLS runs the service with gRPC over TLS only:
// the backend's TLS settings apply to the rate-limit connection, and a
// backend that does not trust the service's certificate is a failure
// (Deny: 503).
func TestGlobalRateLimitOverTLS(t *testing.T) {
	ca := testcerts.NewCA("rls-ca")
	leaf := ca.Issue("rls.example.com", "127.0.0.1")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	svc := ratelimittest.Start(t, rlsConfig, ratelimittest.Options{TLSCertPEM: leaf.CertPEM, TLSKeyPEM: leaf.KeyPEM,
		ClientTLS: &tls.Config{RootCAs: roots, ServerName: "rls.example.com", MinVersion: tls.VersionTLS12}})
	echo := startBackend(t, "echo", false)
	port := freePort(t)
	rt := newRuntime(t)
	cfg := globalConfig(port, svc.Addr, echo.addr)
	cfg.Backends[1].Protocol = config.BackendH2
	cfg.Backends[1].TLS = &config.BackendTLS{CACertificates: ca.CertPEM, SNI: "rls.example.com"}
	untrusted := be("rls-untrusted", svc.Addr)
	untrusted.Protocol = config.BackendH2
	untrusted.TLS = &config.BackendTLS{CACertificates: testcerts.NewCA("other-ca").CertPEM, SNI: "rls.example.com"}
	cfg.Backends = append(cfg.Backends, untrusted)
	wrong := globalPolicy(config.RateLimitFailDeny, 2*time.Second)
	wrong.RateLimit.Global.Backend = "rls-untrusted"
	rules := &cfg.Binds[0].Listeners[0].HTTPRoutes[0].Rules
	*rules = append(*rules, config.HTTPRouteRule{Matches: pathPrefix("/untrusted"), BackendRefs: to("echo"), Traffic: wrong})
	mustApply(t, rt, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := noRedirect()

	for attempt := 0; ; attempt++ {
		start := time.Now()
		tenant := "tls" + strconv.FormatInt(start.UnixNano(), 36)
		var codes []int
		for range globalLimitPerMinute + 1 {
			codes = append(codes, get(t, c, base+"/deny", "", "X-Tenant", tenant).code)
		}
		if start.Truncate(time.Minute) != time.Now().Truncate(time.Minute) && attempt < 2 {
			continue
		}
		for i, code := range codes {
			want := http.StatusOK
			if i == globalLimitPerMinute {
				want = http.StatusTooManyRequests
			}
			if code != want {
				t.Errorf("request %d over TLS: %d, want %d (all: %v)", i, code, want, codes)
			}
		}
		break
	}
	if r := get(t, c, base+"/untrusted", "", "X-Tenant", "x"); r.code != http.StatusServiceUnavailable {
		t.Errorf("untrusted service certificate, failureMode Deny: %d %s, want 503", r.code, r.body)
	}
}
