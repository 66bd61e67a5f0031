package dataplane

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

type mcpEchoIn struct {
	Text string `json:"text,omitempty"`
}

func startMCPServer(t *testing.T, name string, tools ...string) string {
	t.Helper()
	s := sdk.NewServer(&sdk.Implementation{Name: name, Version: "1"}, nil)
	for _, tool := range tools {
		sdk.AddTool(s, &sdk.Tool{Name: tool}, func(_ context.Context, _ *sdk.CallToolRequest, in mcpEchoIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + "/" + tool + ": " + in.Text}}}, nil, nil
		})
	}
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

func mcpConfig(version string, port int, targets []config.MCPTarget, extraRoutes ...config.HTTPRoute) *config.Config {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	routes := append([]config.HTTPRoute{hroute("mcp", nil, config.HTTPRouteRule{Matches: pathPrefix("/mcp"), BackendRefs: to("tools")})}, extraRoutes...)
	return &config.Config{
		Version:  version,
		Binds:    []config.Bind{httpBind("http", port, config.Listener{Name: "http", HTTPRoutes: routes})},
		Backends: []config.Backend{{Name: "tools", MCP: &config.MCPBackend{Targets: targets, SessionKey: key}}},
	}
}

// An HTTPRoute to an MCP backend: an SDK client lists the merged tools of
// two servers through the proxy and calls one on each; its session
// survives a reload that leaves the backend as it is.
func TestMCPBackendThroughRoute(t *testing.T) {
	targets := []config.MCPTarget{
		{Name: "alpha", Address: startMCPServer(t, "alpha", "add", "echo"), Path: "/"},
		{Name: "beta", Address: startMCPServer(t, "beta", "echo")},
	}
	targets[1].Path = "/"
	rt := newRuntime(t)
	port := freePort(t)
	mustApply(t, rt, mcpConfig("v1", port, targets))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/mcp", port), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cs.Close(); err != nil {
			t.Log(err)
		}
	}()
	list := func() []string {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		slices.Sort(names)
		return names
	}
	if got, want := list(), []string{"add", "alpha_echo", "beta_echo"}; !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	call := func(name string) string {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: map[string]any{"text": "hi"}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Content[0].(*sdk.TextContent).Text
	}
	if got := call("alpha_echo"); got != "alpha/echo: hi" {
		t.Fatalf("alpha_echo = %q", got)
	}
	if got := call("beta_echo"); got != "beta/echo: hi" {
		t.Fatalf("beta_echo = %q", got)
	}
	// A reload with another route keeps the MCP gateway and the session.
	other := hroute("other", nil, config.HTTPRouteRule{Matches: pathPrefix("/other"), Filters: []config.HTTPFilter{{DirectResponse: &config.DirectResponse{StatusCode: 204}}}})
	mustApply(t, rt, mcpConfig("v2", port, targets, other))
	if got := call("add"); got != "alpha/add: hi" {
		t.Fatalf("add after reload = %q", got)
	}
}

func TestMCPBackendValidation(t *testing.T) {
	c := mcpConfig("v1", 1, []config.MCPTarget{{Name: "a", Address: "127.0.0.1:1"}})
	c.Backends[0].Endpoints = []config.Endpoint{{Address: "127.0.0.1:2"}}
	c.Backends[0].MCP.SessionKey = "c2hvcnQ="
	c.Backends[0].MCP.Targets = append(c.Backends[0].MCP.Targets, config.MCPTarget{Name: "a", Address: "nope", Transport: "WebSocket"})
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"backends[0].endpoints: not allowed with mcp",
		"backends[0].mcp.sessionKey: must hold at least 32 bytes",
		`backends[0].mcp.targets[1].name: duplicate target name "a"`,
		`backends[0].mcp.targets[1].address: must be host:port`,
		`backends[0].mcp.targets[1].transport: must be StreamableHTTP or SSE`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

type headerTransport struct {
	key, value string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.key, h.value)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpAuthorization rules over the mcp variable: a tool the caller may not
// call is missing from tools/list and refused on call; another caller the
// rules allow sees and calls it.
func TestMCPAuthorizationFiltersTools(t *testing.T) {
	targets := []config.MCPTarget{
		{Name: "alpha", Address: startMCPServer(t, "alpha", "add", "echo"), Path: "/"},
		{Name: "beta", Address: startMCPServer(t, "beta", "weather"), Path: "/"},
	}
	rt := newRuntime(t)
	port := freePort(t)
	c := mcpConfig("v1", port, targets)
	c.Binds[0].Listeners[0].HTTPRoutes[0].Rules[0].Traffic = &config.TrafficPolicy{MCPAuthorization: &config.Authorization{
		Action: config.AuthorizationAllow,
		Rules:  []string{`!(mcp.target == "beta" && mcp.tool.name == "weather")`, `request.headers["x-role"] == "admin"`},
	}}
	mustApply(t, rt, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		role    string
		tools   []string
		allowed bool
	}{
		{"user", []string{"add", "echo"}, false},
		{"admin", []string{"add", "echo", "weather"}, true},
	} {
		client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/mcp", port), MaxRetries: -1,
			HTTPClient: &http.Client{Transport: headerTransport{"X-Role", tc.role}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.tools) {
			t.Errorf("%s: tools = %v, want %v", tc.role, names, tc.tools)
		}
		got, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "weather", Arguments: map[string]any{"text": "x"}})
		switch {
		case tc.allowed && (err != nil || got.Content[0].(*sdk.TextContent).Text != "beta/weather: x"):
			t.Errorf("%s: call weather = %+v, %v", tc.role, got, err)
		case !tc.allowed && (err == nil || !strings.Contains(err.Error(), "not allowed")):
			t.Errorf("%s: call weather = %+v, %v; want a refusal", tc.role, got, err)
		}
		if err := cs.Close(); err != nil {
			t.Log(err)
		}
	}
	// A misspelt field is rejected with a hint.
	c = mcpConfig("v2", port, targets)
	c.Binds[0].Listeners[0].HTTPRoutes[0].Rules[0].Traffic = &config.TrafficPolicy{MCPAuthorization: &config.Authorization{Action: config.AuthorizationAllow, Rules: []string{`mcp.tool.nmae == "x"`}}}
	err := rt.Apply(c)
	if err == nil || !strings.Contains(err.Error(), "did you mean 'mcp.tool.name'") {
		t.Fatalf("apply = %v", err)
	}
}
