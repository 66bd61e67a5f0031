package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// rawResult is a response read off a raw connection: its body (or the
// error that cut it short) and whether the proxy closed the connection
// after it.
type rawResult struct {
	resp    *http.Response
	body    string
	bodyErr error
	closed  bool
}

// rawExchange sends one raw HTTP/1.1 request on a new connection.
func rawExchange(t *testing.T, port int, req string) rawResult {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, bodyErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := rawResult{resp: resp, body: string(b), bodyErr: bodyErr, closed: true}
	// The connection is open when it serves a second request.
	if _, err := io.WriteString(c, "GET /req HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return out
	}
	next, err := http.ReadResponse(br, nil)
	if err != nil {
		return out
	}
	next.Body.Close()
	out.closed = false
	return out
}

// TestBodyLimits: traffic.bodyLimits over real sockets, with and without
// the fast path (rules with a traffic policy always go to net/http).
func TestBodyLimits(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run("fast="+strconv.FormatBool(fast), func(t *testing.T) { testBodyLimits(t, fast) })
	}
}

func testBodyLimits(t *testing.T, fast bool) {
	a := startBackend(t, "a", false)
	big := strings.Repeat("x", 200)
	producer := startBackend(t, "p", false)
	producer.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/resp/length":
			w.Header().Set("Content-Length", "200")
			io.WriteString(w, big) //nolint:errcheck // the proxy may refuse it; the client's view is checked
		case "/resp/chunked":
			for i := 0; i < 4; i++ {
				io.WriteString(w, big[:50])           //nolint:errcheck // the proxy cuts the body off; the client's view is checked
				http.NewResponseController(w).Flush() //nolint:errcheck // as above
			}
		default:
			io.WriteString(w, "small") //nolint:errcheck // a write error shows as a failed response in the test
		}
	})
	port := freePort(t)
	rt := newRuntimeWith(t, Options{DisableFastPath: !fast})
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/req"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{BodyLimits: &config.BodyLimits{Request: 16}}},
			config.HTTPRouteRule{Matches: pathPrefix("/resp"), BackendRefs: to("p"), Traffic: &config.TrafficPolicy{BodyLimits: &config.BodyLimits{Response: 100}}},
		)}})},
		Backends: []config.Backend{be("a", a.addr), be("p", producer.addr)},
	})
	post := func(body string, chunked bool) string {
		if chunked {
			return fmt.Sprintf("POST /req HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		}
		return fmt.Sprintf("POST /req HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}

	t.Run("request within the limit", func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			x := rawExchange(t, port, post("sixteen bytes ok", chunked))
			if x.resp.StatusCode != 200 || !strings.Contains(x.body, `"body":"sixteen bytes ok"`) || x.bodyErr != nil || x.closed {
				t.Errorf("chunked=%v: %d %q %v closed=%v", chunked, x.resp.StatusCode, x.body, x.bodyErr, x.closed)
			}
		}
	})
	t.Run("declared length over the limit", func(t *testing.T) {
		before := a.hits.Load()
		x := rawExchange(t, port, post("seventeen bytes!!", false))
		if x.resp.StatusCode != http.StatusRequestEntityTooLarge || !x.closed {
			t.Errorf("%d closed=%v, want 413 and the connection closed", x.resp.StatusCode, x.closed)
		}
		if a.hits.Load() != before {
			t.Error("the backend was contacted for a body declared over the limit")
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		x := rawExchange(t, port, post(big, true))
		if x.resp.StatusCode != http.StatusRequestEntityTooLarge || !x.closed {
			t.Errorf("%d closed=%v, want 413 and the connection closed", x.resp.StatusCode, x.closed)
		}
	})
	t.Run("response within the limit", func(t *testing.T) {
		x := rawExchange(t, port, "GET /resp/small HTTP/1.1\r\nHost: x\r\n\r\n")
		if x.resp.StatusCode != 200 || x.body != "small" || x.bodyErr != nil || x.closed {
			t.Errorf("%d %q %v closed=%v", x.resp.StatusCode, x.body, x.bodyErr, x.closed)
		}
	})
	t.Run("declared response length over the limit", func(t *testing.T) {
		x := rawExchange(t, port, "GET /resp/length HTTP/1.1\r\nHost: x\r\n\r\n")
		if x.resp.StatusCode != http.StatusBadGateway || strings.Contains(x.body, "xxx") || x.bodyErr != nil || !x.closed {
			t.Errorf("%d %q %v closed=%v, want 502 and the connection closed", x.resp.StatusCode, x.body, x.bodyErr, x.closed)
		}
	})
	t.Run("streamed response over the limit", func(t *testing.T) {
		x := rawExchange(t, port, "GET /resp/chunked HTTP/1.1\r\nHost: x\r\n\r\n")
		// The head left before the body grew too large: the body is cut
		// off at the limit and the connection closed, so the client sees
		// an incomplete response, never a complete one.
		if x.resp.StatusCode != 200 || x.bodyErr == nil || len(x.body) > 100 || !x.closed {
			t.Errorf("%d, %d body bytes, read error %v, closed=%v; want the body cut off and the connection closed", x.resp.StatusCode, len(x.body), x.bodyErr, x.closed)
		}
	})
}
