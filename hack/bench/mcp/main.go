// Command mcp measures what the MCP gateway adds to a tools/call: one MCP
// server from the official Go SDK (Streamable HTTP) is called directly and
// through a proxy runtime whose route sends to an MCP backend with that
// server and a second one as targets, from SDK client sessions on loopback.
// Direct and gateway calls alternate in rounds so both see the same machine
// load. It prints
//
//	bench-mcp: added_p50_ms=... added_p99_ms=... calls_per_s=...
//
// where calls_per_s is the throughput of tools/call through the gateway with
// -conc sessions calling at once.
//
//	go run ./hack/bench/mcp -calls 2000 -rounds 4 -conc 8 -duration 3s
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
)

type echoIn struct {
	Text string `json:"text,omitempty"`
}

func server(name string) *httptest.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: name, Version: "1"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "echo_" + name}, func(_ context.Context, _ *sdk.CallToolRequest, in echoIn) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: in.Text}}}, nil, nil
	})
	return httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{JSONResponse: true}))
}

func connect(ctx context.Context, endpoint string) *sdk.ClientSession {
	c := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, DisableStandaloneSSE: true}, nil)
	if err != nil {
		log.Fatalf("connect %s: %v", endpoint, err)
	}
	return cs
}

func call(ctx context.Context, cs *sdk.ClientSession, tool string) time.Duration {
	start := time.Now()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: map[string]any{"text": "x"}})
	if err != nil || res.IsError {
		log.Fatalf("call %s: %v", tool, err)
	}
	return time.Since(start)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func main() {
	calls := flag.Int("calls", 2000, "tools/call per path per round")
	rounds := flag.Int("rounds", 4, "alternating rounds of direct and gateway calls")
	conc := flag.Int("conc", 8, "concurrent sessions for the throughput run")
	duration := flag.Duration("duration", 3*time.Second, "length of the throughput run")
	flag.Parse()
	if err := run(*calls, *rounds, *conc, *duration); err != nil {
		log.Fatal(err)
	}
}

func run(calls, rounds, conc int, duration time.Duration) error {
	ctx := context.Background()

	a, b := server("a"), server("b")
	defer a.Close()
	defer b.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return err
	}
	rt := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	key := base64.StdEncoding.EncodeToString([]byte("bench-mcp-session-key-0123456789"))
	cfg := &config.Config{
		Version: "bench",
		Binds: []config.Bind{{Name: "http", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{{
			Name: "http", Protocol: config.ProtocolHTTP,
			HTTPRoutes: []config.HTTPRoute{{RouteMeta: config.RouteMeta{Namespace: "bench", Name: "mcp"},
				Rules: []config.HTTPRouteRule{{BackendRefs: []config.BackendRef{{Backend: "tools"}}}}}},
		}}}},
		Backends: []config.Backend{{Name: "tools", MCP: &config.MCPBackend{SessionKey: key, Targets: []config.MCPTarget{
			{Name: "a", Address: strings.TrimPrefix(a.URL, "http://"), Path: "/"},
			{Name: "b", Address: strings.TrimPrefix(b.URL, "http://"), Path: "/"},
		}}}},
	}
	if err := rt.Apply(cfg); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := rt.Shutdown(sctx); err != nil {
			log.Print(err)
		}
	}()
	gwURL := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)

	direct := connect(ctx, a.URL)
	viaGW := connect(ctx, gwURL)
	for range 200 { // warm up connections and the gateway's catalogue
		call(ctx, direct, "echo_a")
		call(ctx, viaGW, "echo_a")
	}
	var d, g []time.Duration
	for range rounds {
		for range calls {
			d = append(d, call(ctx, direct, "echo_a"))
		}
		for range calls {
			g = append(g, call(ctx, viaGW, "echo_a"))
		}
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(duration)
	for i := range conc {
		cs := connect(ctx, gwURL)
		tool := []string{"echo_a", "echo_b"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				call(ctx, cs, tool)
				n.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	perSec := float64(n.Load()) / time.Since(start).Seconds()
	fmt.Printf("direct: p50_ms=%s p99_ms=%s; gateway: p50_ms=%s p99_ms=%s (%d calls each)\n",
		ms(pct(d, 0.5)), ms(pct(d, 0.99)), ms(pct(g, 0.5)), ms(pct(g, 0.99)), len(d))
	fmt.Printf("bench-mcp: added_p50_ms=%s added_p99_ms=%s calls_per_s=%.0f\n",
		ms(pct(g, 0.5)-pct(d, 0.5)), ms(pct(g, 0.99)-pct(d, 0.99)), perSec)
	return nil
}
