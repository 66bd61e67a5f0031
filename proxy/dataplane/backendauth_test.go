package dataplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestBackendAuth: a backend with credentials gets them on every request
// in place of the client's Authorization header, also on retries and
// mirrored copies, with
// and without the fast path; a backend without keeps the client's; a
// changed Secret value applies on the next config; config dumps redact it.
func TestBackendAuth(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run("fast="+strconv.FormatBool(fast), func(t *testing.T) {
			sec, plain := startBackend(t, "secure", false), startBackend(t, "plain", false)
			port := freePort(t)
			rt := newRuntimeWith(t, Options{DisableFastPath: !fast})
			cfg := func(token string) *config.Config {
				secure := be("secure", sec.addr)
				secure.Auth = &config.BackendAuth{Authorization: "Bearer " + token}
				return &config.Config{
					Version: "1",
					Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
						config.HTTPRouteRule{Matches: pathPrefix("/secure"), BackendRefs: to("secure")},
						config.HTTPRouteRule{Matches: pathPrefix("/retry"), BackendRefs: to("secure"),
							Retry: &config.Retry{Attempts: 1, Codes: []int{503}, Backoff: config.D(1)}},
						config.HTTPRouteRule{Matches: pathPrefix("/plain"), BackendRefs: to("plain")},
						config.HTTPRouteRule{Matches: pathPrefix("/mirrored"), BackendRefs: to("plain"),
							Filters: []config.HTTPFilter{{RequestMirror: &config.RequestMirror{Backend: "secure"}}}},
					)}})},
					Backends: []config.Backend{secure, be("plain", plain.addr)},
				}
			}
			c1 := cfg("backend-token-1")
			mustApply(t, rt, c1)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			auth := func(r response) string { return strings.Join(http.Header(r.echo.Headers).Values("Authorization"), "|") }

			for _, path := range []string{"/secure", "/retry"} {
				r := get(t, http.DefaultClient, base+path, "", "Authorization", "Bearer client")
				if r.code != 200 || auth(r) != "Bearer backend-token-1" {
					t.Errorf("%s: %d, backend saw Authorization %q", path, r.code, auth(r))
				}
			}
			if r := get(t, http.DefaultClient, base+"/secure", ""); auth(r) != "Bearer backend-token-1" {
				t.Errorf("without a client header: backend saw %q", auth(r))
			}
			// The retried attempt carries the credentials too.
			sec.reqCh = make(chan echo, 4)
			if r := get(t, http.DefaultClient, base+"/retry", "", "X-Echo-Status", "503", "Authorization", "Bearer client"); r.code != 503 || len(sec.reqCh) != 2 {
				t.Errorf("retry: %d after %d tries, want 503 after 2", r.code, len(sec.reqCh))
			}
			for len(sec.reqCh) > 0 {
				if e := <-sec.reqCh; strings.Join(http.Header(e.Headers).Values("Authorization"), "|") != "Bearer backend-token-1" {
					t.Errorf("an attempt carried Authorization %q", http.Header(e.Headers).Values("Authorization"))
				}
			}
			sec.reqCh = nil
			if r := get(t, http.DefaultClient, base+"/plain", "", "Authorization", "Bearer client"); auth(r) != "Bearer client" {
				t.Errorf("backend without credentials saw %q, want the client's", auth(r))
			}

			// A copy mirrored to the backend carries its credentials; the
			// routed request keeps the client's.
			sec.reqCh = make(chan echo, 1)
			if r := get(t, http.DefaultClient, base+"/mirrored", "", "Authorization", "Bearer client"); auth(r) != "Bearer client" {
				t.Errorf("mirrored route's own backend saw %q", auth(r))
			}
			select {
			case e := <-sec.reqCh:
				if got := strings.Join(http.Header(e.Headers).Values("Authorization"), "|"); got != "Bearer backend-token-1" {
					t.Errorf("the mirror carried Authorization %q", got)
				}
			case <-time.After(5 * time.Second):
				t.Error("the mirror never reached the backend")
			}

			mustApply(t, rt, cfg("backend-token-2"))
			if r := get(t, http.DefaultClient, base+"/secure", "", "Authorization", "Bearer client"); auth(r) != "Bearer backend-token-2" {
				t.Errorf("after the Secret changed: backend saw %q", auth(r))
			}

			dump, err := json.Marshal(c1.Redacted())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(dump), "backend-token") || c1.Redacted().Backends[0].Auth.Authorization != config.RedactedValue {
				t.Errorf("redacted config: %s", dump)
			}
		})
	}
}

func TestBackendAuthValidation(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"", "backends[0].auth.authorization: must not be empty"},
		{"Bearer a\r\nX-Injected: 1", "backends[0].auth.authorization: is not a valid header value"},
	} {
		b := be("a", "127.0.0.1:1")
		b.Auth = &config.BackendAuth{Authorization: tc.value}
		err := (&config.Config{Version: "1", Backends: []config.Backend{b}}).Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.value, err, tc.want)
		}
		if tc.value != "" && err != nil && strings.Contains(err.Error(), tc.value) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}
