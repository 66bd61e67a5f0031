package runtime

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestConnectionCannotRemoveGatewayHeaders: a client's Connection header
// names hop-by-hop fields, which are removed from its request before the
// gateway adds its own. A header the gateway sets (a rule's
// RequestHeaderModifier, a JWT claim) must reach the backend even when
// the client names it in Connection, on the fast path and on net/http.
func TestConnectionCannotRemoveGatewayHeaders(t *testing.T) {
	a := startBackend(t, "a", false)
	signer := newSigner(t, "k1")
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
			)}})},
			Backends: []config.Backend{be("a", a.addr)},
		}
	})
	token := signer.sign(t, "ES256", map[string]any{"iss": "https://issuer.example.com", "sub": "alice", "exp": time.Now().Unix() + 600})
	cases := []struct{ name, raw, field, want string }{
		{"request header modifier", "GET /mod HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Internal\r\nX-Internal: client\r\n\r\n", "X-Internal", "gateway"},
		{"request header modifier, Connection twice", "GET /mod HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: x-internal\r\n\r\n", "X-Internal", "gateway"},
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
