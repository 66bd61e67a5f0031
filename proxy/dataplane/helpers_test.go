package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// echo is what test backends answer: the request as the backend saw it.
type echo struct {
	Backend string              `json:"backend"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Proto   string              `json:"proto"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

type backend struct {
	*httptest.Server
	name  string
	hits  atomic.Int64
	addr  string
	reqCh chan echo // receives every request when non-nil (buffered)
}

func echoHandler(b *backend) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e := echo{Backend: b.name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Proto: r.Proto, Headers: r.Header, Body: string(body)}
		if b.reqCh != nil {
			select {
			case b.reqCh <- e:
			default:
			}
		}
		if code := r.Header.Get("X-Echo-Status"); code != "" {
			w.WriteHeader(atoi(code))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", b.name)
		if err := json.NewEncoder(w).Encode(e); err != nil {
			// The client reads a cut-off echo and fails on it.
			return
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// startBackend starts an HTTP/1.1 (and h2c when h2c is true) echo server
// on 127.0.0.1.
func startBackend(t testing.TB, name string, h2c bool) *backend {
	t.Helper()
	b := &backend{name: name}
	s := httptest.NewUnstartedServer(echoHandler(b))
	if h2c {
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetHTTP1(true)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	s.Start()
	t.Cleanup(s.Close)
	b.Server = s
	b.addr = s.Listener.Addr().String()
	return b
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	rt := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 2 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		// Connections a test left open (h2c, TCP) outlive the drain by design: Shutdown
		// then closes them and reports the deadline. Any other error is a failure.
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	})
	return rt
}

func mustApply(t testing.TB, rt *Runtime, c *config.Config) {
	t.Helper()
	if err := rt.Apply(c); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func httpBind(name string, port int, listeners ...config.Listener) config.Bind {
	for i := range listeners {
		if listeners[i].Protocol == "" {
			listeners[i].Protocol = config.ProtocolHTTP
		}
	}
	return config.Bind{Name: name, Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTP, Listeners: listeners}
}

func hroute(name string, hosts []string, rules ...config.HTTPRouteRule) config.HTTPRoute {
	return config.HTTPRoute{RouteMeta: config.RouteMeta{Namespace: "default", Name: name, CreationTimestamp: time.Unix(1700000000, 0).UTC()}, Hostnames: hosts, Rules: rules}
}

func to(backends ...string) []config.BackendRef {
	var refs []config.BackendRef
	for _, b := range backends {
		refs = append(refs, config.BackendRef{Backend: b})
	}
	return refs
}

func pathPrefix(p string) []config.HTTPRouteMatch {
	return []config.HTTPRouteMatch{{Path: &config.PathMatch{Type: config.PathMatchPathPrefix, Value: p}}}
}

func be(name string, addrs ...string) config.Backend {
	b := config.Backend{Name: name}
	for _, a := range addrs {
		b.Endpoints = append(b.Endpoints, config.Endpoint{Address: a})
	}
	return b
}

type response struct {
	code   int
	header http.Header
	body   string
	echo   echo
}

func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{code: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		// Not every JSON-typed body is an echo (a transformation may rewrite it): such a
		// response has a zero echo, which the tests that need one check.
		if err := json.Unmarshal(b, &out.echo); err != nil {
			out.echo = echo{}
		}
	}
	return out
}

func get(t testing.TB, c *http.Client, url, host string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

// noRedirect is a client that returns redirects instead of following them.
func noRedirect() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}
