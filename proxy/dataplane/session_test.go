package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
