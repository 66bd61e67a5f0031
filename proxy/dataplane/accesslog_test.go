package dataplane

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// lineWriter hands every log line to a channel.
type lineWriter chan map[string]any

func (w lineWriter) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return 0, err
	}
	w <- m
	return len(p), nil
}

// TestListenerAccessLog: a listener with an access log writes one line per
// request its filter accepts, with the CEL attributes, while the runtime's
// global access log is off; a listener without one writes nothing. The
// requests share one keep-alive connection, so lines come in request order.
func TestListenerAccessLog(t *testing.T) {
	lines := make(lineWriter, 64)
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntimeWith(t, Options{Logger: slog.New(slog.NewJSONHandler(lines, nil))})
	route := func(name string) config.HTTPRoute {
		return hroute(name, nil, config.HTTPRouteRule{BackendRefs: to("a")})
	}
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port,
			config.Listener{Name: "logged", Hostname: "logged.example", HTTPRoutes: []config.HTTPRoute{route("r1")},
				AccessLog: &config.AccessLog{
					Filter: `request.path.startsWith("/log") && response.code < 500`,
					Attributes: []config.AccessLogAttribute{
						{Name: "agent", Expression: `request.headers["x-agent"]`},
						{Name: "double", Expression: `response.code * 2`},
						{Name: "backend", Expression: `backend.name`},
					},
				}},
			config.Listener{Name: "quiet", Hostname: "quiet.example", HTTPRoutes: []config.HTTPRoute{route("r2")}},
		)},
		Backends: []config.Backend{be("a", a.addr)},
	})
	c := &http.Client{Timeout: 10 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, req := range []struct{ host, path, status string }{
		{"logged.example", "/log/one", ""},
		{"logged.example", "/skip", ""},          // filtered out by path
		{"logged.example", "/log/failed", "503"}, // filtered out by status
		{"quiet.example", "/log/quiet", ""},      // no access log
		{"logged.example", "/log/two", "201"},
	} {
		hdr := []string{"X-Agent", "agent-" + req.path}
		if req.status != "" {
			hdr = append(hdr, "X-Echo-Status", req.status)
		}
		if r := get(t, c, base+req.path, req.host, hdr...); r.code == 0 {
			t.Fatalf("%s: no response", req.path)
		}
	}
	var got []map[string]any
	timeout := time.After(10 * time.Second)
	for len(got) == 0 || got[len(got)-1]["path"] != "/log/two" {
		select {
		case m := <-lines:
			if m["msg"] == "request" {
				t.Errorf("the global access log is off, yet: %v", m)
			}
			if m["msg"] == "access" {
				got = append(got, m)
			}
		case <-timeout:
			t.Fatalf("no line for /log/two; got %v", got)
		}
	}
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2 (/log/one, /log/two): %v", len(got), got)
	}
	for i, want := range []struct {
		path   string
		status float64
	}{{"/log/one", 200}, {"/log/two", 201}} {
		m := got[i]
		attrs, _ := m["attributes"].(map[string]any)
		if m["path"] != want.path || m["status"] != want.status || m["method"] != "GET" || m["listener"] != "logged" ||
			m["upstream"] != a.addr || m["duration"] == nil || attrs == nil ||
			attrs["agent"] != "agent-"+want.path || attrs["double"] != 2*want.status || attrs["backend"] != "a" {
			t.Errorf("line %d = %v", i, m)
		}
	}
}

func TestAccessLogValidation(t *testing.T) {
	c := &config.Config{Version: "1", Binds: []config.Bind{httpBind("http", 80, config.Listener{Name: "l",
		AccessLog: &config.AccessLog{Filter: `request.path`, Attributes: []config.AccessLogAttribute{{Name: "x", Expression: `nope.field`}, {Name: "x", Expression: `1`}}}})}}
	err := c.Validate()
	for _, want := range []string{"accessLog.filter", "accessLog.attributes[0].expression", `accessLog.attributes[1].name: duplicate attribute "x"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
