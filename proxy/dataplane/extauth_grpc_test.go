package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
)

// authzServer is an Envoy ext_authz v3 server; the x-case request header
// picks its answer.
type authzServer struct {
	authv3.UnimplementedAuthorizationServer
	addr  string
	conns atomic.Int64 // connections accepted

	mu   sync.Mutex
	seen []*authv3.CheckRequest
}

func startAuthz(t *testing.T, opts ...grpc.ServerOption) *authzServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &authzServer{addr: ln.Addr().String()}
	srv := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(srv, s)
	go func() {
		// Serve returns nil after Stop; anything else is a listener failure.
		if err := srv.Serve(countingListener{ln, &s.conns}); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(srv.Stop)
	return s
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// last returns the last check request for the given x-case.
func (s *authzServer) last(xcase string) *authv3.CheckRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.seen) - 1; i >= 0; i-- {
		if s.seen[i].GetAttributes().GetRequest().GetHttp().GetHeaders()["x-case"] == xcase {
			return s.seen[i]
		}
	}
	return nil
}

func header(key, value string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: value}, AppendAction: action}
}

func (s *authzServer) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s.mu.Lock()
	s.seen = append(s.seen, req)
	s.mu.Unlock()
	denied := &rpcstatus.Status{Code: int32(codes.PermissionDenied)}
	switch req.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-case"] {
	case "allow", "body":
		md, err := structpb.NewStruct(map[string]any{"user": "alice", "level": 3})
		if err != nil {
			return nil, err
		}
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers: []*corev3.HeaderValueOption{
					header("x-user", "alice", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
					header("x-tags", "authz", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
					header("x-existing", "authz", corev3.HeaderValueOption_ADD_IF_ABSENT),
					header("x-absent", "authz", corev3.HeaderValueOption_ADD_IF_ABSENT),
					header("x-only-if-there", "authz", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS),
					{Header: &corev3.HeaderValue{Key: "x-legacy", Value: "authz"}, Append: wrapperspb.Bool(false)},
					header("host", "evil.example.com", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
					header(":path", "/admin", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
				},
				HeadersToRemove:         []string{"authorization", "host"},
				ResponseHeadersToAdd:    []*corev3.HeaderValueOption{header("x-authz", "yes", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)},
				QueryParametersToSet:    []*corev3.QueryParameter{{Key: "added", Value: "1"}},
				QueryParametersToRemove: []string{"drop"},
			}},
			DynamicMetadata: md,
		}, nil
	case "deny":
		return &authv3.CheckResponse{Status: denied, HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
			Headers: []*corev3.HeaderValueOption{header("www-authenticate", `Bearer realm="test"`, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)},
			Body:    "go away",
		}}}, nil
	case "error":
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.Unavailable)}, HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
			Body:   "authz broken",
		}}}, nil
	case "slow":
		// Past the proxy's deadline whatever the server's own deadline says
		// (grpc-timeout is rounded), then an answer that would allow.
		time.Sleep(time.Second)
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)}}, nil
	}
	return &authv3.CheckResponse{Status: denied}, nil
}

// TestExtAuthGRPC runs the proxy in front of a real ext_authz gRPC server.
func TestExtAuthGRPC(t *testing.T) {
	a := startBackend(t, "a", false)
	authz := startAuthz(t)
	port := freePort(t)
	rt := newRuntime(t)
	grpcAuth := func(backend string, failOpen bool, timeout time.Duration) *config.TrafficPolicy {
		return &config.TrafficPolicy{ExtAuth: &config.ExtAuth{Backend: backend, Protocol: config.ExtAuthGRPC, FailOpen: failOpen,
			Timeout: &config.Duration{Duration: timeout}, IncludeBodyBytes: 8, ContextExtensions: map[string]string{"app": "web"}}}
	}
	withCEL := grpcAuth("authz", false, time.Second)
	withCEL.Authorization = &config.Authorization{Action: config.AuthorizationRequire,
		Rules: []string{`extauthz.metadata.user == "alice" && extauthz.headers["x-user"] == "alice"`}}
	authzBackend := be("authz", authz.addr)
	authzBackend.Protocol = config.BackendH2C
	cfg := &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/ext"), BackendRefs: to("a"), Traffic: grpcAuth("authz", false, time.Second)},
			config.HTTPRouteRule{Matches: pathPrefix("/cel"), BackendRefs: to("a"), Traffic: withCEL},
			config.HTTPRouteRule{Matches: pathPrefix("/closed"), BackendRefs: to("a"), Traffic: grpcAuth("authz", false, 200*time.Millisecond)},
			config.HTTPRouteRule{Matches: pathPrefix("/open"), BackendRefs: to("a"), Traffic: grpcAuth("authz", true, 200*time.Millisecond)},
			config.HTTPRouteRule{Matches: pathPrefix("/dead-closed"), BackendRefs: to("a"), Traffic: grpcAuth("dead", false, time.Second)},
			config.HTTPRouteRule{Matches: pathPrefix("/dead-open"), BackendRefs: to("a"), Traffic: grpcAuth("dead", true, time.Second)},
		)}})},
		Backends: []config.Backend{be("a", a.addr), authzBackend, be("dead", "127.0.0.1:1")},
	}
	mustApply(t, rt, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := noRedirect()

	t.Run("allowed", func(t *testing.T) {
		r := get(t, c, base+"/ext/x?drop=1&keep=2", "app.example.com", "X-Case", "allow", "X-User", "mallory",
			"X-Tags", "client", "X-Existing", "client", "Authorization", "Bearer secret")
		h := http.Header(r.echo.Headers)
		if r.code != 200 {
			t.Fatalf("allowed: %d %s", r.code, r.body)
		}
		for name, want := range map[string][]string{
			"X-User": {"alice"}, "X-Tags": {"client", "authz"}, "X-Existing": {"client"}, "X-Absent": {"authz"},
			"X-Only-If-There": nil, "X-Legacy": {"authz"}, "Authorization": nil,
		} {
			if got := h.Values(name); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("backend header %s = %q, want %q", name, got, want)
			}
		}
		if r.echo.Host != "app.example.com" || r.echo.Path != "/ext/x" {
			t.Errorf("host or path changed by the service: %q %q", r.echo.Host, r.echo.Path)
		}
		if r.echo.Query != "added=1&keep=2" {
			t.Errorf("backend query = %q", r.echo.Query)
		}
		if r.header.Get("X-Authz") != "yes" || r.header.Get("X-Backend") != "a" {
			t.Errorf("client response headers: %v", r.header)
		}

		req := authz.last("allow")
		if req == nil {
			t.Fatal("the service saw no request")
		}
		attrs := req.GetAttributes()
		hr := attrs.GetRequest().GetHttp()
		if hr.GetMethod() != "GET" || hr.GetPath() != "/ext/x?drop=1&keep=2" || hr.GetHost() != "app.example.com" ||
			hr.GetScheme() != "http" || hr.GetProtocol() != "HTTP/1.1" || hr.GetId() == "" {
			t.Errorf("http attributes: %v", hr)
		}
		for name, want := range map[string]string{
			"x-user": "mallory", "authorization": "Bearer secret", ":authority": "app.example.com",
			":method": "GET", ":path": "/ext/x?drop=1&keep=2", ":scheme": "http",
		} {
			if got := hr.GetHeaders()[name]; got != want {
				t.Errorf("service saw header %s = %q, want %q", name, got, want)
			}
		}
		if _, ok := hr.GetHeaders()["X-User"]; ok {
			t.Errorf("header names must be lower case: %v", hr.GetHeaders())
		}
		if attrs.GetContextExtensions()["app"] != "web" {
			t.Errorf("context extensions: %v", attrs.GetContextExtensions())
		}
		if src := attrs.GetSource().GetAddress().GetSocketAddress(); src.GetAddress() != "127.0.0.1" || src.GetPortValue() == 0 {
			t.Errorf("source: %v", src)
		}
		if dst := attrs.GetDestination().GetAddress().GetSocketAddress(); dst.GetPortValue() != uint32(port) {
			t.Errorf("destination: %v, want port %d", dst, port)
		}
		if attrs.GetRequest().GetTime() == nil {
			t.Error("no request time")
		}
	})

	t.Run("body", func(t *testing.T) {
		req := mustReq(t, "POST", base+"/ext/upload", "0123456789abcdef")
		req.Header.Set("X-Case", "body")
		if r := do(t, c, req); r.code != 200 || r.echo.Body != "0123456789abcdef" {
			t.Errorf("backend must get the whole body: %d %q", r.code, r.echo.Body)
		}
		hr := authz.last("body").GetAttributes().GetRequest().GetHttp()
		if hr.GetBody() != "01234567" || string(hr.GetRawBody()) != "01234567" || hr.GetSize() != 16 ||
			hr.GetHeaders()["x-envoy-auth-partial-body"] != "true" || hr.GetMethod() != "POST" {
			t.Errorf("service saw body %q raw %q size %d headers %v", hr.GetBody(), hr.GetRawBody(), hr.GetSize(), hr.GetHeaders())
		}
	})

	t.Run("cel sees the answer", func(t *testing.T) {
		if r := get(t, c, base+"/cel", "", "X-Case", "allow"); r.code != 200 {
			t.Errorf("extauthz metadata and headers in CEL: %d %s", r.code, r.body)
		}
	})

	t.Run("denied", func(t *testing.T) {
		r := get(t, c, base+"/ext/x", "", "X-Case", "deny")
		if r.code != 401 || r.body != "go away" || r.header.Get("Www-Authenticate") != `Bearer realm="test"` {
			t.Errorf("denied: %d %q %v", r.code, r.body, r.header)
		}
		if r := get(t, c, base+"/ext/x", "", "X-Case", "plain-deny"); r.code != 403 {
			t.Errorf("denied without a response: %d", r.code)
		}
		if n := a.hits.Load(); n != 3 {
			t.Errorf("backend hits = %d, want 3 (allowed requests only)", n)
		}
	})

	t.Run("error response", func(t *testing.T) {
		if r := get(t, c, base+"/closed", "", "X-Case", "error"); r.code != 503 || r.body != "authz broken" {
			t.Errorf("error response, fail closed: %d %q", r.code, r.body)
		}
		if r := get(t, c, base+"/open", "", "X-Case", "error"); r.code != 200 {
			t.Errorf("error response, fail open: %d", r.code)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		if r := get(t, c, base+"/closed", "", "X-Case", "slow"); r.code != 403 {
			t.Errorf("timeout, fail closed: %d", r.code)
		}
		if r := get(t, c, base+"/open", "", "X-Case", "slow"); r.code != 200 {
			t.Errorf("timeout, fail open: %d", r.code)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("two 200ms timeouts took %v", d)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		if r := get(t, c, base+"/dead-closed", "", "X-Case", "allow"); r.code != 403 {
			t.Errorf("unreachable, fail closed: %d", r.code)
		}
		if r := get(t, c, base+"/dead-open", "", "X-Case", "allow"); r.code != 200 {
			t.Errorf("unreachable, fail open: %d", r.code)
		}
	})

	t.Run("connection reused across reloads", func(t *testing.T) {
		cfg.Version = "2"
		mustApply(t, rt, cfg)
		for i := range 5 {
			if r := get(t, c, base+"/ext/"+strconv.Itoa(i), "", "X-Case", "allow"); r.code != 200 {
				t.Fatalf("after reload: %d", r.code)
			}
		}
		if n := authz.conns.Load(); n != 1 {
			t.Errorf("service accepted %d connections, want 1", n)
		}
	})
}

// TestExtAuthGRPCNewEndpoints checks that a changed backend gets a new
// connection and that the old one is closed once no check can use it.
func TestExtAuthGRPCNewEndpoints(t *testing.T) {
	a := startBackend(t, "a", false)
	first, second := startAuthz(t), startAuthz(t)
	port := freePort(t)
	rt := newRuntime(t)
	apply := func(version, addr string) {
		mustApply(t, rt, &config.Config{
			Version: version,
			Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
				config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{ExtAuth: &config.ExtAuth{
					// Long enough for a first check on a new connection under -race
					// on a loaded machine; the old connection closes one timeout
					// after the swap.
					Backend: "authz", Protocol: config.ExtAuthGRPC, Timeout: &config.Duration{Duration: time.Second}}}},
			)}})},
			Backends: []config.Backend{be("a", a.addr), be("authz", addr)},
		})
	}
	apply("1", first.addr)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if r := get(t, noRedirect(), url, "", "X-Case", "allow"); r.code != 200 {
		t.Fatalf("first service: %d", r.code)
	}
	var old *callout.Conn
	for _, c := range rt.authz.Snapshot() {
		old = c.Conn
	}
	apply("2", second.addr)
	if r := get(t, noRedirect(), url, "", "X-Case", "allow"); r.code != 200 {
		t.Fatalf("second service: %d", r.code)
	}
	if first.last("allow") == nil || second.last("allow") == nil {
		t.Errorf("each service must have seen a check")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !old.Closed() {
		if time.Now().After(deadline) {
			t.Fatal("the connection to the replaced backend was not closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := len(rt.authz.Snapshot())
	if n != 1 {
		t.Errorf("%d connections kept, want 1", n)
	}
}

// TestExtAuthGRPCAllowedHeaders checks the settings of a Gateway API
// ExternalAuth filter with protocol GRPC: only the allowed headers (and
// the pseudo headers, which describe the request itself) reach the
// service, and a body longer than forwardBody.maxSize is refused with 413
// without a check.
func TestExtAuthGRPCAllowedHeaders(t *testing.T) {
	a := startBackend(t, "a", false)
	authz := startAuthz(t)
	port := freePort(t)
	rt := newRuntime(t)
	authzBackend := be("authz", authz.addr)
	authzBackend.Protocol = config.BackendH2C
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
			config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{ExtAuth: &config.ExtAuth{
				Backend: "authz", Protocol: config.ExtAuthGRPC, ForwardHeaders: []string{"authorization", "x-case"},
				IncludeBodyBytes: 8, RejectLargeBody: true}}},
		)}})},
		Backends: []config.Backend{be("a", a.addr), authzBackend},
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := noRedirect()
	r := get(t, c, base+"/x?q=1", "app.example.com", "X-Case", "allow", "Authorization", "Bearer t", "X-Other", "secret", "Cookie", "s=1")
	if r.code != 200 {
		t.Fatalf("allowed: %d %s", r.code, r.body)
	}
	hr := authz.last("allow").GetAttributes().GetRequest().GetHttp()
	want := map[string]string{"authorization": "Bearer t", "x-case": "allow", ":authority": "app.example.com", ":method": "GET", ":path": "/x?q=1", ":scheme": "http"}
	if fmt.Sprint(hr.GetHeaders()) != fmt.Sprint(want) {
		t.Errorf("service saw headers %v, want exactly %v", hr.GetHeaders(), want)
	}
	if http.Header(r.echo.Headers).Get("X-Other") != "secret" {
		t.Errorf("the backend still gets every header: %v", r.echo.Headers)
	}

	checks := func() int {
		authz.mu.Lock()
		defer authz.mu.Unlock()
		return len(authz.seen)
	}
	before := checks()
	req := mustReq(t, "POST", base+"/upload", "0123456789")
	req.Header.Set("X-Case", "body")
	if r := do(t, c, req); r.code != 413 {
		t.Errorf("body over maxSize: %d, want 413", r.code)
	}
	req = mustReq(t, "POST", base+"/upload", "01234567")
	req.Header.Set("X-Case", "body")
	if r := do(t, c, req); r.code != 200 || r.echo.Body != "01234567" {
		t.Errorf("body of maxSize: %d %q", r.code, r.echo.Body)
	}
	if n := checks() - before; n != 1 {
		t.Errorf("%d checks, want 1: the oversized body must not be checked", n)
	}
	hr = authz.last("body").GetAttributes().GetRequest().GetHttp()
	if string(hr.GetRawBody()) != "01234567" || hr.GetHeaders()["x-envoy-auth-partial-body"] != "false" {
		t.Errorf("service saw body %q, headers %v", hr.GetRawBody(), hr.GetHeaders())
	}
}
