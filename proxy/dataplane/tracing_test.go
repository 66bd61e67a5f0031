package dataplane

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
	"github.com/agentgateway/agentgateway-go/proxy/tracing/otlptest"
)

// tracedBackend is a backend service that continues the trace it
// receives in traceparent and exports its own server span (service
// "backend") to the receiver. Paths under /flaky answer 503 to the first
// request of each path.
type tracedBackend struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]int
	parent []string // traceparent of every request, in order
}

func startTracedBackend(t *testing.T, r *otlptest.Receiver) *tracedBackend {
	t.Helper()
	s, err := tracing.NewGRPCSender(tracing.GRPCOptions{Address: r.GRPCAddr})
	if err != nil {
		t.Fatal(err)
	}
	exp := tracing.NewExporter(s, "backend", tracing.ExporterOptions{Interval: 10 * time.Millisecond}, nil)
	t.Cleanup(func() {
		if err := exp.Close(); err != nil {
			t.Error(err)
		}
	})
	tr := tracing.NewTracer(exp, tracing.Sampler{Ratio: 0, ParentBased: true, ParentRatio: 1}, "backend", nil)
	b := &tracedBackend{seen: map[string]int{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tp := req.Header.Get("traceparent")
		b.mu.Lock()
		b.parent = append(b.parent, tp)
		b.seen[req.URL.Path]++
		n := b.seen[req.URL.Path]
		b.mu.Unlock()
		parent, _ := tracing.ParseTraceparent(tp)
		if c, ok := tr.Decide(parent); ok {
			sp := tr.StartServer(c, parent.SpanID, "backend "+req.URL.Path)
			defer sp.Finish()
		}
		w.Header().Set("X-Got-Traceparent", tp)
		w.Header().Set("X-Got-Tracestate", req.Header.Get("tracestate"))
		if strings.HasPrefix(req.URL.Path, "/flaky") && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *tracedBackend) addr() string { return b.srv.Listener.Addr().String() }

const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

// clientParent is the client's own span: sampled, or not.
func clientParent(span string, sampled bool) string {
	flags := "00"
	if sampled {
		flags = "01"
	}
	return "00-" + clientTrace + "-" + span + "-" + flags
}

func byTrace(spans []otlptest.Span, trace string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range spans {
		if s.TraceID == trace {
			out = append(out, s)
		}
	}
	return out
}

// TestTracingOverSockets runs requests through a traced listener to a
// backend that continues the trace, exporting to a real OTLP receiver
// over each protocol, and checks the span tree across client, proxy and
// backend: server span under the client's span, an attempt span per try
// under it, the backend's span under the attempt it received.
func TestTracingOverSockets(t *testing.T) {
	for _, proto := range []config.TracingProtocol{config.TracingGRPC, config.TracingHTTP} {
		t.Run(string(proto), func(t *testing.T) { testTracing(t, proto) })
	}
}

func testTracing(t *testing.T, proto config.TracingProtocol) {
	recv := otlptest.Start(t)
	backend := startTracedBackend(t, recv)
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") == "" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(authz.Close)
	addr := recv.GRPCAddr
	if proto == config.TracingHTTP {
		addr = recv.HTTPAddr
	}
	one := 1.0
	tr := &config.Tracing{Address: addr, Protocol: proto, ServiceName: "gw", SamplingRate: &one,
		Condition: `!request.path.startsWith("/skip")`, BatchInterval: config.D(10 * time.Millisecond),
		Attributes: []config.TracingAttribute{{Name: "env", Value: "test"}, {Name: "tenant", Header: "X-Tenant"},
			{Name: "code", Attribute: "http.response.status_code"}, {Name: "where", Expression: `request.path`}}}
	port := freePort(t)
	reg := prometheus.NewRegistry()
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, DrainTimeout: 2 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", Tracing: tr, HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/flaky"), BackendRefs: to("b"), Retry: &config.Retry{Attempts: 1, Codes: []int{503}, Backoff: config.D(time.Millisecond)}},
			config.HTTPRouteRule{Matches: pathPrefix("/auth"), BackendRefs: to("b"), Traffic: &config.TrafficPolicy{ExtAuth: &config.ExtAuth{Backend: "authz"}}},
			config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("b")},
		)}})},
		Backends: []config.Backend{be("b", backend.addr()), be("authz", authz.Listener.Addr().String())},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &http.Client{Timeout: 10 * time.Second}

	// A sampled client span: proxy server span, one attempt, backend span.
	r := get(t, c, base+"/one", "", "traceparent", clientParent("00f067aa0ba902b7", true), "tracestate", "vendor=abc", "X-Tenant", "t1")
	if r.code != 200 {
		t.Fatalf("GET /one: %d", r.code)
	}
	if got := r.header.Get("X-Got-Tracestate"); got != "vendor=abc" {
		t.Errorf("backend got tracestate %q, want the client's", got)
	}
	spans := recv.WaitFor(t, 10*time.Second, "the spans of /one", func(s []otlptest.Span) bool { return len(byPath(byTrace(s, clientTrace), "/one")) == 3 })
	tree := byPath(byTrace(spans, clientTrace), "/one")
	srv, att, bk := find(t, tree, "gw", otlpServer), find(t, tree, "gw", otlpClient), find(t, tree, "backend", otlpServer)
	if srv.ParentSpanID != "00f067aa0ba902b7" {
		t.Errorf("proxy server span's parent = %s, want the client's span", srv.ParentSpanID)
	}
	if att.ParentSpanID != srv.SpanID {
		t.Errorf("attempt span's parent = %s, want the server span %s", att.ParentSpanID, srv.SpanID)
	}
	if bk.ParentSpanID != att.SpanID {
		t.Errorf("backend span's parent = %s, want the attempt span %s", bk.ParentSpanID, att.SpanID)
	}
	if want := "00-" + clientTrace + "-" + att.SpanID + "-01"; r.header.Get("X-Got-Traceparent") != want {
		t.Errorf("backend got traceparent %q, want %q", r.header.Get("X-Got-Traceparent"), want)
	}
	for k, v := range map[string]any{"http.request.method": "GET", "url.path": "/one", "http.response.status_code": int64(200),
		"env": "test", "tenant": "t1", "code": int64(200), "where": "/one", "agentgateway.listener": "web"} {
		if srv.Attrs[k] != v {
			t.Errorf("server span %s = %v (%T), want %v", k, srv.Attrs[k], srv.Attrs[k], v)
		}
	}
	if att.Attrs["server.address"] != "127.0.0.1" || att.Attrs["http.response.status_code"] != int64(200) {
		t.Errorf("attempt span attributes %v", att.Attrs)
	}

	// A retried request: two attempts under one server span, each the
	// parent of the backend span it caused.
	r = get(t, c, base+"/flaky", "")
	if r.code != 200 {
		t.Fatalf("GET /flaky: %d", r.code)
	}
	trace := traceOf(t, r.header.Get("X-Got-Traceparent"))
	spans = recv.WaitFor(t, 10*time.Second, "the spans of /flaky", func(s []otlptest.Span) bool { return len(byTrace(s, trace)) == 5 })
	tree = byTrace(spans, trace)
	srv = find(t, tree, "gw", otlpServer)
	if srv.ParentSpanID != "" {
		t.Errorf("a request without traceparent starts a trace; server span has parent %s", srv.ParentSpanID)
	}
	attempts := map[string]otlptest.Span{}
	for _, s := range tree {
		if s.Service == "gw" && s.Kind == otlpClient {
			attempts[s.SpanID] = s
			if s.ParentSpanID != srv.SpanID {
				t.Errorf("attempt %s has parent %s, want %s", s.SpanID, s.ParentSpanID, srv.SpanID)
			}
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2:\n%s", len(attempts), otlptest.Describe(tree))
	}
	resends := 0
	for _, s := range tree {
		if s.Service == "backend" {
			if _, ok := attempts[s.ParentSpanID]; !ok {
				t.Errorf("backend span %s has parent %s, not an attempt", s.SpanID, s.ParentSpanID)
			}
		}
		if s.Attrs["http.request.resend_count"] == int64(1) {
			resends++
		}
	}
	if resends != 1 {
		t.Errorf("%d attempts with resend_count 1, want 1", resends)
	}

	// Ext auth: a span for the call, under the server span.
	r = get(t, c, base+"/auth", "")
	if r.code != 200 {
		t.Fatalf("GET /auth: %d (the auth service needs a traceparent)", r.code)
	}
	trace = traceOf(t, r.header.Get("X-Got-Traceparent"))
	spans = recv.WaitFor(t, 10*time.Second, "the spans of /auth", func(s []otlptest.Span) bool { return len(byTrace(s, trace)) == 5 })
	tree = byTrace(spans, trace)
	srv = find(t, tree, "gw", otlpServer)
	var ext otlptest.Span
	for _, s := range tree {
		if s.Name == "ext_authz" {
			ext = s
		}
	}
	if ext.ParentSpanID != srv.SpanID || ext.Attrs["agentgateway.ext_authz.decision"] != "allow" {
		t.Errorf("ext_authz span %+v, want a child of %s that allowed:\n%s", ext, srv.SpanID, otlptest.Describe(tree))
	}

	// Unsampled by the client (parent based), or by the condition: nothing
	// is exported and the backend gets the client's traceparent as sent.
	unsampled := clientParent("1111111111111111", false)
	r = get(t, c, base+"/quiet", "", "traceparent", unsampled)
	if got := r.header.Get("X-Got-Traceparent"); got != unsampled {
		t.Errorf("unsampled request: backend got traceparent %q, want %q", got, unsampled)
	}
	r = get(t, c, base+"/skip", "", "traceparent", clientParent("2222222222222222", true))
	if r.code != 200 {
		t.Fatalf("GET /skip: %d", r.code)
	}
	// A sampled request after them: once its spans arrived, theirs would
	// have (one queue, in order).
	r = get(t, c, base+"/last", "", "traceparent", clientParent("3333333333333333", true))
	spans = recv.WaitFor(t, 10*time.Second, "the spans of /last", func(s []otlptest.Span) bool { return len(byPath(s, "/last")) == 3 })
	for _, s := range spans {
		if s.Service == "gw" && (s.ParentSpanID == "1111111111111111" || s.ParentSpanID == "2222222222222222") {
			t.Errorf("an unsampled request was exported: %+v", s)
		}
	}
	if v := testutil.ToFloat64(rt.exporters.metrics.Dropped.WithLabelValues(addr)); v != 0 {
		t.Errorf("dropped %v spans", v)
	}
}

const (
	otlpServer = 2
	otlpClient = 3
)

// byPath keeps the spans of requests for path: the proxy's (url.path) and
// the backend's (named after the path).
func byPath(spans []otlptest.Span, path string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range spans {
		if s.Attrs["url.path"] == path || s.Name == "backend "+path {
			out = append(out, s)
		}
	}
	return out
}

func find(t *testing.T, spans []otlptest.Span, service string, kind int) otlptest.Span {
	t.Helper()
	for _, s := range spans {
		if s.Service == service && int(s.Kind) == kind {
			return s
		}
	}
	t.Fatalf("no %s span of kind %d in:\n%s", service, kind, otlptest.Describe(spans))
	return otlptest.Span{}
}

func traceOf(t *testing.T, traceparent string) string {
	t.Helper()
	c, ok := tracing.ParseTraceparent(traceparent)
	if !ok {
		t.Fatalf("backend got no valid traceparent: %q", traceparent)
	}
	return c.TraceID.String()
}

// TestExchangeTraceID: the access log reads the trace id of traced
// requests, "" of others.
func TestExchangeTraceID(t *testing.T) {
	ex := &exchange{}
	if got := ex.traceID(); got != "" {
		t.Errorf("untraced traceID() = %q", got)
	}
	c, _ := tracing.ParseTraceparent(clientParent("00f067aa0ba902b7", true))
	ex.trace = c.TraceID
	if got := ex.traceID(); got != clientTrace {
		t.Errorf("traceID() = %q, want %q", got, clientTrace)
	}
}
