package mcp_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/mcp"
)

type echoIn struct {
	Text string `json:"text,omitempty"`
}

// newServer builds an SDK MCP server named name with the given tools; each
// tool answers "<server>/<tool>: <text>". A tool named "ask" elicits the
// text from the client first.
func newServer(name string, tools ...string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: name, Version: "1"}, nil)
	for _, tool := range tools {
		sdk.AddTool(s, &sdk.Tool{Name: tool, Description: name + " " + tool}, func(ctx context.Context, req *sdk.CallToolRequest, in echoIn) (*sdk.CallToolResult, any, error) {
			text := in.Text
			if tool == "ask" {
				res, err := req.Session.Elicit(ctx, &sdk.ElicitParams{Message: "what text?", RequestedSchema: map[string]any{
					"type": "object", "properties": map[string]any{"text": map[string]any{"type": "string"}}}})
				if err != nil {
					return nil, nil, err
				}
				text = fmt.Sprint(res.Content["text"])
			}
			if tok := req.Params.GetProgressToken(); tok != nil {
				if err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2, Message: "half"}); err != nil {
					return nil, nil, err
				}
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + "/" + tool + ": " + text}}}, nil, nil
		})
	}
	return s
}

// serveStreamable serves s over Streamable HTTP on a real socket.
func serveStreamable(t *testing.T, s *sdk.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts
}

// serveSSE serves s over the 2024-11-05 HTTP+SSE transport.
func serveSSE(t *testing.T, s *sdk.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(sdk.NewSSEHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts
}

func hostOf(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// gateway serves an MCP gateway over the targets on a real socket.
func gateway(t *testing.T, cfg config.MCPBackend, opts mcp.Options) (*mcp.Gateway, *httptest.Server) {
	t.Helper()
	if cfg.SessionRouting != config.MCPStateless && cfg.SessionKey == "" {
		cfg.SessionKey = testKey
	}
	c := &config.Config{Version: "v1", Backends: []config.Backend{{Name: "mcp", MCP: &cfg}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := mcp.New("mcp", &cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	return g, ts
}

func connect(t *testing.T, endpoint string, opts *sdk.ClientOptions, hc *http.Client) *sdk.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1"}, opts)
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cs.Close(); err != nil {
			t.Log(err)
		}
	})
	return cs
}

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func callText(cs *sdk.ClientSession, name, text string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", errors.New(res.Content[0].(*sdk.TextContent).Text)
	}
	return res.Content[0].(*sdk.TextContent).Text, nil
}

func threeTargets(t *testing.T) []config.MCPTarget {
	a := serveStreamable(t, newServer("alpha", "add", "echo"))
	b := serveStreamable(t, newServer("beta", "weather", "echo"))
	c := serveSSE(t, newServer("gamma", "clock"))
	return []config.MCPTarget{
		{Name: "alpha", Address: hostOf(t, a), Path: "/"},
		{Name: "beta", Address: hostOf(t, b), Path: "/"},
		{Name: "gamma", Address: hostOf(t, c), Path: "/", Transport: config.MCPSSE},
	}
}

// Three servers (one of them on the SSE transport) behind one gateway: the
// client lists the merged tools, "echo" on two of them prefixed, and calls
// a tool on each server.
func TestMergedToolsAcrossTargets(t *testing.T) {
	_, gw := gateway(t, config.MCPBackend{Targets: threeTargets(t), PageSize: 2}, mcp.Options{})
	cs := connect(t, gw.URL, nil, nil)
	got := toolNames(t, cs)
	want := []string{"add", "alpha_echo", "beta_echo", "clock", "weather"}
	if !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	for tool, want := range map[string]string{
		"add":        "alpha/add: x",
		"alpha_echo": "alpha/echo: x",
		"beta_echo":  "beta/echo: x",
		"weather":    "beta/weather: x",
		"clock":      "gamma/clock: x",
	} {
		got, err := callText(cs, tool, "x")
		if err != nil || got != want {
			t.Errorf("call %s = %q, %v; want %q", tool, got, err, want)
		}
	}
	if _, err := callText(cs, "echo", "x"); err == nil {
		t.Error("the unprefixed conflicting name was callable")
	}
}

func TestToolPrefixModes(t *testing.T) {
	a := serveStreamable(t, newServer("alpha", "echo", "add"))
	b := serveStreamable(t, newServer("beta", "echo"))
	targets := []config.MCPTarget{{Name: "alpha", Address: hostOf(t, a), Path: "/"}, {Name: "beta", Address: hostOf(t, b), Path: "/"}}
	for _, tc := range []struct {
		mode config.MCPToolPrefix
		want []string
		call map[string]string
	}{
		{config.MCPPrefixAlways, []string{"alpha_add", "alpha_echo", "beta_echo"}, map[string]string{"beta_echo": "beta/echo: y"}},
		{config.MCPPrefixNever, []string{"add", "echo"}, map[string]string{"echo": "alpha/echo: y"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			_, gw := gateway(t, config.MCPBackend{Targets: targets, ToolPrefix: tc.mode}, mcp.Options{})
			cs := connect(t, gw.URL, nil, nil)
			if got := toolNames(t, cs); !slices.Equal(got, tc.want) {
				t.Fatalf("tools = %v, want %v", got, tc.want)
			}
			for tool, want := range tc.call {
				if got, err := callText(cs, tool, "y"); err != nil || got != want {
					t.Errorf("call %s = %q, %v; want %q", tool, got, err, want)
				}
			}
		})
	}
}

// A tool the caller may not call is not listed and is refused on call.
func TestDeniedToolHiddenAndRefused(t *testing.T) {
	var seen atomic.Int32
	opts := mcp.Options{Authorize: func(_ *http.Request, c *mcp.Call) bool {
		seen.Add(1)
		return !(c.Target == "beta" && c.Tool == "weather")
	}}
	_, gw := gateway(t, config.MCPBackend{Targets: threeTargets(t)}, opts)
	cs := connect(t, gw.URL, nil, nil)
	if got := toolNames(t, cs); slices.Contains(got, "weather") || !slices.Contains(got, "beta_echo") {
		t.Fatalf("tools = %v: weather listed or beta_echo missing", got)
	}
	_, err := callText(cs, "weather", "x")
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("calling a denied tool: %v, want a refusal", err)
	}
	if seen.Load() == 0 {
		t.Fatal("Authorize was never asked")
	}
}

// A prompt the caller may not get is not listed, and neither prompts/get nor
// completion/complete of its arguments reaches its target.
func TestDeniedPromptRefusedForCompletion(t *testing.T) {
	var completed atomic.Int32
	s := sdk.NewServer(&sdk.Implementation{Name: "alpha", Version: "1"}, &sdk.ServerOptions{
		CompletionHandler: func(context.Context, *sdk.CompleteRequest) (*sdk.CompleteResult, error) {
			completed.Add(1)
			return &sdk.CompleteResult{Completion: sdk.CompletionResultDetails{Values: []string{"secret-id-1"}}}, nil
		},
	})
	for _, name := range []string{"open", "secret"} {
		s.AddPrompt(&sdk.Prompt{Name: name, Arguments: []*sdk.PromptArgument{{Name: "id"}}}, func(context.Context, *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
			return &sdk.GetPromptResult{Messages: []*sdk.PromptMessage{{Role: "user", Content: &sdk.TextContent{Text: name}}}}, nil
		})
	}
	ts := serveStreamable(t, s)
	opts := mcp.Options{Authorize: func(_ *http.Request, c *mcp.Call) bool {
		return !(c.Method == "prompts/get" && c.Tool == "secret")
	}}
	_, gw := gateway(t, config.MCPBackend{Targets: []config.MCPTarget{{Name: "alpha", Address: hostOf(t, ts), Path: "/"}}}, opts)
	cs := connect(t, gw.URL, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var listed []string
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, p.Name)
	}
	if !slices.Equal(listed, []string{"open"}) {
		t.Fatalf("prompts = %v, want only open", listed)
	}
	if _, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "secret"}); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("prompts/get of a denied prompt: %v, want a refusal", err)
	}
	complete := func(prompt string) (*sdk.CompleteResult, error) {
		return cs.Complete(ctx, &sdk.CompleteParams{
			Ref:      &sdk.CompleteReference{Type: "ref/prompt", Name: prompt},
			Argument: sdk.CompleteParamsArgument{Name: "id", Value: "s"},
		})
	}
	if _, err := complete("secret"); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("completion/complete of a denied prompt: %v, want a refusal", err)
	}
	if n := completed.Load(); n != 0 {
		t.Fatalf("the target completed %d times for a denied prompt", n)
	}
	res, err := complete("open")
	if err != nil || len(res.Completion.Values) != 1 || completed.Load() != 1 {
		t.Fatalf("completion/complete of an allowed prompt: %+v, %v (target asked %d times)", res, err, completed.Load())
	}
}

// An SSE target that accepts the stream and never sends its endpoint event
// fails initialize after the open timeout, and its connection is released
// rather than held forever.
func TestSSETargetSilentIsReleased(t *testing.T) {
	defer mcp.SetSSEOpenTimeout(300 * time.Millisecond)()
	released := make(chan struct{}, 16)
	silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // says nothing until the proxy goes away
		released <- struct{}{}
	}))
	t.Cleanup(silent.Close)
	_, gw := gateway(t, config.MCPBackend{FailureMode: config.MCPFailClosed, Targets: []config.MCPTarget{
		{Name: "silent", Address: hostOf(t, silent), Path: "/", Transport: config.MCPSSE}}}, mcp.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1"}, nil)
	if cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: gw.URL, MaxRetries: -1}, nil); err == nil {
		t.Fatalf("initialize succeeded with the only target silent (close: %v), want an error (FailClosed)", cs.Close())
	}
	select {
	case <-released:
	case <-ctx.Done():
		t.Fatal("the silent target's stream is still held")
	}
}

// A target killed mid-session: FailOpen lists and calls the others,
// FailClosed fails the list; both refuse calls to the dead target.
func TestTargetKilledMidSession(t *testing.T) {
	for _, mode := range []config.MCPFailureMode{config.MCPFailOpen, config.MCPFailClosed} {
		t.Run(string(mode), func(t *testing.T) {
			a := serveStreamable(t, newServer("alpha", "add"))
			b := serveStreamable(t, newServer("beta", "weather"))
			targets := []config.MCPTarget{{Name: "alpha", Address: hostOf(t, a), Path: "/"}, {Name: "beta", Address: hostOf(t, b), Path: "/"}}
			_, gw := gateway(t, config.MCPBackend{Targets: targets, FailureMode: mode}, mcp.Options{})
			cs := connect(t, gw.URL, nil, nil)
			if got := toolNames(t, cs); !slices.Equal(got, []string{"add", "weather"}) {
				t.Fatalf("tools = %v", got)
			}
			b.CloseClientConnections()
			b.Close()
			if _, err := callText(cs, "weather", "x"); err == nil {
				t.Error("call to the killed target succeeded")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := cs.ListTools(ctx, nil)
			switch mode {
			case config.MCPFailOpen:
				if err != nil || len(res.Tools) != 1 || res.Tools[0].Name != "add" {
					t.Fatalf("FailOpen list = %+v, %v; want [add]", res, err)
				}
				if got, err := callText(cs, "add", "x"); err != nil || got != "alpha/add: x" {
					t.Fatalf("FailOpen call add = %q, %v", got, err)
				}
			case config.MCPFailClosed:
				if err == nil {
					t.Fatalf("FailClosed list succeeded: %+v", res)
				}
			}
		})
	}
}

// A session started on one replica continues on another with the same
// session key: the session id carries the targets' sessions.
func TestSessionAcrossReplicas(t *testing.T) {
	targets := threeTargets(t)
	_, gw1 := gateway(t, config.MCPBackend{Targets: targets}, mcp.Options{})
	_, gw2 := gateway(t, config.MCPBackend{Targets: targets}, mcp.Options{})
	var second atomic.Bool
	var hits2 atomic.Int32
	u2, err := url.Parse(gw2.URL)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if second.Load() {
			r = r.Clone(r.Context())
			r.URL.Host = u2.Host
			r.Host = u2.Host
			hits2.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	opts := &sdk.ClientOptions{ElicitationHandler: func(context.Context, *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
		return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"text": "from-client"}}, nil
	}}
	cs := connect(t, gw1.URL, opts, hc)
	if got := toolNames(t, cs); len(got) != 5 {
		t.Fatalf("tools on replica 1 = %v", got)
	}
	second.Store(true)
	for tool, want := range map[string]string{"weather": "beta/weather: y", "clock": "gamma/clock: y"} {
		if got, err := callText(cs, tool, "y"); err != nil || got != want {
			t.Fatalf("call %s on replica 2 = %q, %v; want %q", tool, got, err, want)
		}
	}
	if hits2.Load() == 0 {
		t.Fatal("no request reached replica 2")
	}
	// A forged session id is refused.
	req, err := http.NewRequest(http.MethodPost, gw2.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mcp-Session-Id", base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 64))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("forged session: HTTP %d, want 404", resp.StatusCode)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Server-to-client requests (elicitation) and progress notifications of a
// call reach the client through the gateway, and its answer the server.
func TestElicitationAndProgressRelayed(t *testing.T) {
	a := serveStreamable(t, newServer("alpha", "ask"))
	b := serveStreamable(t, newServer("beta", "ask"))
	targets := []config.MCPTarget{{Name: "alpha", Address: hostOf(t, a), Path: "/"}, {Name: "beta", Address: hostOf(t, b), Path: "/"}}
	_, gw := gateway(t, config.MCPBackend{Targets: targets}, mcp.Options{})
	progress := make(chan string, 4)
	opts := &sdk.ClientOptions{
		ElicitationHandler: func(context.Context, *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"text": "elicited"}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			progress <- req.Params.Message
		},
	}
	cs := connect(t, gw.URL, opts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	params := &sdk.CallToolParams{Name: "beta_ask", Arguments: map[string]any{}}
	params.SetProgressToken("p1")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*sdk.TextContent).Text; got != "beta/ask: elicited" {
		t.Fatalf("result %q", got)
	}
	select {
	case msg := <-progress:
		if msg != "half" {
			t.Fatalf("progress message %q", msg)
		}
	case <-ctx.Done():
		t.Fatal("no progress notification reached the client")
	}
}

// Stateless routing: no session id, requests reach stateless targets.
func TestStateless(t *testing.T) {
	s := newServer("alpha", "add")
	a := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(a.Close)
	_, gw := gateway(t, config.MCPBackend{Targets: []config.MCPTarget{{Name: "alpha", Address: hostOf(t, a), Path: "/"}}, SessionRouting: config.MCPStateless}, mcp.Options{})
	cs := connect(t, gw.URL, nil, nil)
	if cs.ID() != "" {
		t.Fatalf("stateless gateway issued session %q", cs.ID())
	}
	if got, err := callText(cs, "add", "z"); err != nil || got != "alpha/add: z" {
		t.Fatalf("call = %q, %v", got, err)
	}
}

func TestToolsForStatus(t *testing.T) {
	g, _ := gateway(t, config.MCPBackend{Targets: threeTargets(t)}, mcp.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tools, err := g.Tools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 5 {
		t.Fatalf("tools = %+v", tools)
	}
}
