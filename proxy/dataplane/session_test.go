package dataplane

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestSessionEndpointGone: a session whose endpoint left the backend (a
// rollout) is moved to a live endpoint and the client gets a fresh token,
// which then sticks without being re-issued. Both the fast path and
// net/http serve the rule.
func TestSessionEndpointGone(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			old, n1, n2 := startBackend(t, "old", false), startBackend(t, "new1", false), startBackend(t, "new2", false)
			port := freePort(t)
			rt := newRuntimeWith(t, Options{DisableFastPath: !fast})
			rule := config.HTTPRouteRule{BackendRefs: to("a"), SessionPersistence: &config.SessionPersistence{SessionName: "sticky"}}
			mustApply(t, rt, oneRoute(port, rule, be("a", old.addr)))
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			first := get(t, http.DefaultClient, url, "")
			if first.echo.Backend != "old" {
				t.Fatalf("first request went to %q", first.echo.Backend)
			}
			stale := cookieOf(t, first.header)

			// The rollout: the endpoint the session names is gone.
			mustApply(t, rt, oneRoute(port, rule, be("a", n1.addr, n2.addr)))
			moved := get(t, http.DefaultClient, url, "", "Cookie", stale)
			if moved.code != 200 || moved.echo.Backend == "old" {
				t.Fatalf("after the rollout: %d from %q", moved.code, moved.echo.Backend)
			}
			fresh := cookieOf(t, moved.header)
			if fresh == stale {
				t.Fatalf("the stale cookie was re-issued unchanged: %s", fresh)
			}
			for i := 0; i < 20; i++ {
				r := get(t, http.DefaultClient, url, "", "Cookie", fresh)
				if r.echo.Backend != moved.echo.Backend {
					t.Fatalf("request %d went to %s, the new session is on %s", i, r.echo.Backend, moved.echo.Backend)
				}
				if c := r.header.Get("Set-Cookie"); c != "" {
					t.Fatalf("request %d: cookie re-issued for a valid session: %s", i, c)
				}
			}
		})
	}
}

// newRuntimeWith is newRuntime with options (a discarding logger unless
// o sets one).
func newRuntimeWith(t testing.TB, o Options) *Runtime {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.DrainTimeout = 2 * time.Second
	rt := New(o)
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	})
	return rt
}

func cookieOf(t *testing.T, h http.Header) string {
	t.Helper()
	ck := h.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "sticky=") {
		t.Fatalf("no session cookie: %v", h)
	}
	return strings.SplitN(ck, ";", 2)[0]
}

// TestSessionCookiePathAndLifetime: the session cookie carries the configured
// Path; a token within its lifetime sticks to its endpoint among several,
// while one past its expiry, or without one, starts a new session with a
// fresh token. Both the fast path and net/http serve the rule.
func TestSessionCookiePathAndLifetime(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			b1, b2, b3 := startBackend(t, "b1", false), startBackend(t, "b2", false), startBackend(t, "b3", false)
			port := freePort(t)
			rt := newRuntimeWith(t, Options{DisableFastPath: !fast})
			rule := config.HTTPRouteRule{Matches: pathPrefix("/api"), BackendRefs: to("a"), SessionPersistence: &config.SessionPersistence{
				SessionName: "sticky", CookiePath: "/api", Lifetime: &config.Duration{Duration: time.Hour},
			}}
			mustApply(t, rt, oneRoute(port, rule, be("a", b1.addr, b2.addr, b3.addr)))
			url := fmt.Sprintf("http://127.0.0.1:%d/api/x", port)
			first := get(t, http.DefaultClient, url, "")
			set := first.header.Get("Set-Cookie")
			if !strings.Contains(set, "; Path=/api;") && !strings.HasSuffix(set, "; Path=/api") {
				t.Fatalf("Set-Cookie %q has no Path=/api", set)
			}
			ck := cookieOf(t, first.header)
			for i := 0; i < 20; i++ {
				r := get(t, http.DefaultClient, url, "", "Cookie", ck)
				if r.echo.Backend != first.echo.Backend {
					t.Fatalf("request %d went to %s, the session is on %s", i, r.echo.Backend, first.echo.Backend)
				}
				if c := r.header.Get("Set-Cookie"); c != "" {
					t.Fatalf("request %d: cookie re-issued within the lifetime: %s", i, c)
				}
			}

			// Tokens the proxy did not issue for this lifetime: expired, and without expiry.
			addr := map[string]string{"b1": b1.addr, "b2": b2.addr, "b3": b3.addr}[first.echo.Backend]
			for name, tok := range map[string]string{
				"expired":   "a|" + addr + "|" + strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10),
				"no expiry": "a|" + addr,
			} {
				stale := "sticky=" + base64.RawURLEncoding.EncodeToString([]byte(tok))
				r := get(t, http.DefaultClient, url, "", "Cookie", stale)
				fresh := cookieOf(t, r.header)
				if r.code != 200 || fresh == stale {
					t.Fatalf("%s token: %d, cookie %q; want 200 and a new token", name, r.code, fresh)
				}
			}
		})
	}
}
