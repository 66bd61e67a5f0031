package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

func TestPathNormalizationAndH2CSmuggling(t *testing.T) {
	pub := startBackend(t, "public", false)
	adm := startBackend(t, "admin", false)
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/public"), BackendRefs: to("public")},
			config.HTTPRouteRule{Matches: pathPrefix("/admin"), Filters: []config.HTTPFilter{{DirectResponse: &config.DirectResponse{StatusCode: 403}}}},
		)}})},
		Backends: []config.Backend{be("public", pub.addr), be("admin", adm.addr)},
	})
	raw := func(reqLine string, extra string) (int, string) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\n%s\r\n", reqLine, extra); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/public/../admin/secret", "/public/%2e%2e/admin/secret", "//admin/secret", "/public/./../admin"} {
		if code, body := raw("GET "+p, ""); code != 403 {
			t.Errorf("%s reached a backend: %d %s", p, code, body)
		}
	}
	code, body := raw("GET /public/a/../b/", "")
	if code != 200 || !strings.Contains(body, `"path":"/public/b/"`) {
		t.Errorf("normalized path: %d %s", code, body)
	}
	// An h2c upgrade is not forwarded: the backend sees a plain request.
	code, body = raw("GET /public/x", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")
	if code != 200 || strings.Contains(strings.ToLower(body), "h2c") {
		t.Errorf("h2c upgrade: %d %s", code, body)
	}
}
