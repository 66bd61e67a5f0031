package dataplane

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestConnectionCannotRemoveGatewayHeaders: a client's Connection header
// names hop-by-hop fields, which are removed from its request before the
// gateway adds its own. A header the gateway sets (a rule's
// RequestHeaderModifier, a CEL transformation, ext-auth, a JWT claim)
// must reach the backend even when the client names it in Connection, on
// the fast path and on net/http.
func TestConnectionCannotRemoveGatewayHeaders(t *testing.T) {
	a := startBackend(t, "a", false)
	signer := newSigner(t, "k1")
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Authz-User", "authz")
	}))
	t.Cleanup(authz.Close)
	fast, general := twoProxiesFor(t, func(port int) *config.Config {
		return &config.Config{
			Version: "1",
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
				config.HTTPRouteRule{Matches: pathPrefix("/mod"), BackendRefs: to("a"), Filters: []config.HTTPFilter{
					{RequestHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "X-Internal", Value: "gateway"}}}},
				}},
				config.HTTPRouteRule{Matches: pathPrefix("/jwt"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					JWTAuthentication: &config.JWTAuthentication{Providers: []config.JWTProvider{
						{Name: "p", Issuer: "https://issuer.example.com", JWKS: config.JWKS{Inline: signer.jwks()},
							ClaimsToHeaders: []config.ClaimToHeader{{Claim: "sub", Header: "x-user"}}},
					}},
				}},
				config.HTTPRouteRule{Matches: pathPrefix("/cel"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{Transformation: &config.Transformation{
					Request: &config.TransformationRules{Set: []config.HeaderTransformation{{Name: "x-route", Value: `"cel"`}}},
				}}},
				config.HTTPRouteRule{Matches: pathPrefix("/ext"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					ExtAuth: &config.ExtAuth{Backend: "authz", AllowedUpstreamHeaders: []string{"x-authz-user"}},
				}},
			)}})},
			Backends: []config.Backend{be("a", a.addr), be("authz", authz.Listener.Addr().String())},
		}
	})
	token := signer.sign(t, "ES256", map[string]any{"iss": "https://issuer.example.com", "sub": "alice", "exp": time.Now().Unix() + 600})
	cases := []struct{ name, raw, field, want string }{
		{"request header modifier", "GET /mod HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Internal\r\nX-Internal: client\r\n\r\n", "X-Internal", "gateway"},
		{"request header modifier, Connection twice", "GET /mod HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: x-internal\r\n\r\n", "X-Internal", "gateway"},
		{"cel transformation", "GET /cel HTTP/1.1\r\nHost: x\r\nConnection: X-Route\r\nX-Route: client\r\n\r\n", "X-Route", "cel"},
		{"ext-auth header", "GET /ext HTTP/1.1\r\nHost: x\r\nConnection: x-authz-user\r\nX-Authz-User: client\r\n\r\n", "X-Authz-User", "authz"},
		{"jwt claim to header", "GET /jwt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nConnection: x-user\r\nX-User: mallory\r\n\r\n", "X-User", "alice"},
	}
	onVariants(fast, general, func(i, port int) {
		for _, c := range cases {
			rc := dialRaw(t, port)
			rc.send(c.raw)
			resp, body := rc.read("GET")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s, %s: status %d: %s", variants[i], c.name, resp.StatusCode, body)
			}
			var e echo
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("%s, %s: %v: %s", variants[i], c.name, err, body)
			}
			h := http.Header(e.Headers)
			if got := h.Values(c.field); len(got) != 1 || got[0] != c.want {
				t.Errorf("%s, %s: backend got %s %q, want %q", variants[i], c.name, c.field, got, c.want)
			}
			if got := h.Values("Connection"); len(got) != 0 {
				t.Errorf("%s, %s: backend got Connection %q", variants[i], c.name, got)
			}
		}
	})
}

// TestUserinfoInTargetRejected: an absolute-form target with userinfo is
// answered with 400 and never forwarded (net/http alone would route it
// with the host after '@').
func TestUserinfoInTargetRejected(t *testing.T) {
	a := startBackend(t, "a", false)
	fast, general := twoProxies(t, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	for i, port := range []int{fast, general} {
		path := []string{"fast path", "general path"}[i]
		for _, target := range []string{"http://a@evil/", "http://user:pw@x/p", "http://@x/"} {
			rc := dialRaw(t, port)
			rc.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := rc.read("GET")
			if resp.StatusCode != http.StatusBadRequest || !resp.Close {
				t.Errorf("%s, %s: status %d, close %v: %s", path, target, resp.StatusCode, resp.Close, body)
			}
		}
	}
	if n := a.hits.Load(); n != 0 {
		t.Fatalf("the backend got %d requests", n)
	}
}

// responsesUntilClose sends raw on a new connection and reads responses
// until the proxy closes it; it returns their status codes.
func responsesUntilClose(t *testing.T, port int, raw string) []int {
	t.Helper()
	rc := dialRaw(t, port)
	rc.send(raw)
	var codes []int
	for {
		resp, err := http.ReadResponse(rc.br, nil)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("reading response %d: %v", len(codes)+1, err)
			}
			return codes
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("reading body %d: %v", len(codes)+1, err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if len(codes) > 10 {
			t.Fatalf("more than 10 responses: %v", codes)
		}
	}
}

// TestFaultyFramingClosesConnection: Transfer-Encoding together with
// Content-Length, or in an HTTP/1.0 request, is answered with 400 and the
// connection closed (RFC 9112 §6.1, as nginx does), whether it is the
// connection's first request or comes after others net/http served; the
// bytes after it are never served as a request. Valid chunked requests
// keep the connection.
func TestFaultyFramingClosesConnection(t *testing.T) {
	a := startBackend(t, "a", false)
	fast, general := twoProxies(t, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	http10 := "GET /first HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
	chunked := "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
	cases := []struct {
		name string
		raw  string
		want []int
		hits int64
	}{
		{"CL+TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, []int{400}, 0},
		{"TE+CL, TE first", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, []int{400}, 0},
		{"HTTP/1.0 chunked", "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + "25\r\n" + smuggled + "\r\n0\r\n\r\n", []int{400}, 0},
		{"CL+TE after an HTTP/1.0 request", http10 + "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, []int{200, 400}, 1},
		{"HTTP/1.0 chunked after a chunked request", chunked + "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, []int{200, 400}, 1},
		{"chunked, then more requests", chunked + chunked + http10 + "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []int{200, 200, 200, 200}, 4},
		{"refused upgrade closes", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, []int{200}, 1},
	}
	for i, port := range []int{fast, general} {
		path := []string{"fast path", "general path"}[i]
		for _, c := range cases {
			before := a.hits.Load()
			got := responsesUntilClose(t, port, c.raw)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s, %s: responses %v, want %v", path, c.name, got, c.want)
			}
			if n := a.hits.Load() - before; n != c.hits {
				t.Errorf("%s, %s: the backend got %d requests, want %d", path, c.name, n, c.hits)
			}
		}
	}
}

// TestInvalidChunkedBody: a chunked body whose first chunk line is
// malformed is answered with 400 before the backend is contacted; one
// that breaks after the backend request started aborts that request and
// is answered with 400, not 502. Either way the connection closes.
func TestInvalidChunkedBody(t *testing.T) {
	arrived := make(chan struct{}, 1)
	var hits atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case arrived <- struct{}{}:
		default:
		}
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.Close)
	fast, general := twoProxies(t, config.HTTPRouteRule{BackendRefs: to("b")}, be("b", b.Listener.Addr().String()))
	head := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for i, port := range []int{fast, general} {
		path := []string{"fast path", "general path"}[i]
		for _, body := range []string{"zz\r\nabc\r\n0\r\n\r\n", "3\r\nabc\r\nzz\r\n\r\n", "3 x\r\nabc\r\n0\r\n\r\n", "3\nabc\r\n0\r\n\r\n"} {
			got := responsesUntilClose(t, port, head+body+"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if !slices.Equal(got, []int{400}) {
				t.Errorf("%s, body %q: responses %v, want [400]", path, body, got)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("%s: the backend got %d requests", path, n)
		}
		select {
		case <-arrived:
		default:
		}

		// The body breaks after the backend request started.
		rc := dialRaw(t, port)
		rc.send(head + "3\r\nabc\r\n")
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the request did not reach the backend", path)
		}
		rc.send("zz\r\n\r\n")
		resp, body := rc.read("POST")
		if resp.StatusCode != http.StatusBadRequest || !resp.Close {
			t.Errorf("%s, broken later: status %d, close %v: %s", path, resp.StatusCode, resp.Close, body)
		}
		hits.Store(0)
	}
}
