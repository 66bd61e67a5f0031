package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeAtomic replaces the file by rename, as Kubernetes does for mounted
// ConfigMaps, so the poller never sees a half-written file.
func writeAtomic(t *testing.T, path, content string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func fetch(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// logLines is a log destination a test can wait on.
type logLines struct {
	mu      sync.Mutex
	buf     strings.Builder
	written chan struct{}
}

func newLogLines() *logLines { return &logLines{written: make(chan struct{}, 1)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.written <- struct{}{}:
	default:
	}
	return len(p), nil
}

// waitFor waits until the log contains all of want.
func (l *logLines) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		l.mu.Lock()
		s := l.buf.String()
		l.mu.Unlock()
		found := true
		for _, w := range want {
			found = found && strings.Contains(s, w)
		}
		if found {
			return
		}
		select {
		case <-l.written:
		case <-deadline:
			t.Fatalf("the log never said %q; it has:\n%s", want, s)
		}
	}
}

// waitFor polls cond (bounded) because the file source and the listeners
// start asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRunServesReloadsAndDrains(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "backend")
	}))
	defer backend.Close()
	port := freePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(version, header string) {
		cfg := fmt.Sprintf(`version: %q
binds:
- name: http
  address: 127.0.0.1
  port: %d
  protocol: HTTP
  listeners:
  - name: web
    protocol: HTTP
    httpRoutes:
    - namespace: default
      name: r
      creationTimestamp: "2026-01-01T00:00:00Z"
      rules:
      - backendRefs: [{backend: b}]
        filters:
        - responseHeaderModifier: {set: [{name: x-config, value: %q}]}
backends:
- name: b
  endpoints: [{address: %q}]
`, version, port, header, backend.Listener.Addr().String())
		writeAtomic(t, path, cfg)
	}
	write("1", "one")
	logs := newLogLines()
	o := &options{configPath: path, adminAddr: "127.0.0.1:0", logFormat: "text", pollInterval: 10 * time.Millisecond, drainPeriod: time.Hour, endDrain: make(chan struct{}), drainTimeout: time.Second, logLevel: slog.LevelError, logOut: logs}
	ctx, cancel := context.WithCancel(context.Background())
	adminCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, adminCh) }()
	admin := "http://" + (<-adminCh).String()
	waitFor(t, "ready", func() bool { c, _ := fetch(admin + "/ready"); return c == 200 })

	proxyURL := fmt.Sprintf("http://127.0.0.1:%d/", port)
	header := func() string {
		resp, err := http.Get(proxyURL)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return resp.Header.Get("X-Config")
	}
	if h := header(); h != "one" {
		t.Fatalf("first config: %q", h)
	}
	write("2", "two")
	waitFor(t, "reload", func() bool { return header() == "two" })

	// A broken file is rejected; the last good config keeps serving.
	writeAtomic(t, path, "version: 3\nbinds: [oops")
	waitFor(t, "rejection metric", func() bool {
		_, m := fetch(admin + "/metrics")
		return strings.Contains(m, `agentgateway_config_reloads_total{result="failed"} 1`)
	})
	// The source disappears entirely: once the poller has found it missing, still serving.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "config source", "read config "+path, "no such file")
	if h := header(); h != "two" {
		t.Fatalf("after losing the source: %q", h)
	}
	if c, body := fetch(admin + "/config_dump"); c != 200 || !strings.Contains(body, `"version": "2"`) {
		t.Fatalf("config_dump: %d %s", c, body)
	}

	cancel()
	waitFor(t, "readiness to fail", func() bool { c, _ := fetch(admin + "/ready"); return c == 503 })
	// Still serving traffic during the drain period.
	if h := header(); h != "two" {
		t.Fatalf("during drain: %q", h)
	}
	close(o.endDrain)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		t.Fatal("proxy port still open after shutdown")
	}
}

func TestRunFromConfigStream(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer backend.Close()
	port := freePort(t)
	mk := func(header string) *config.Config {
		c := &config.Config{
			Binds: []config.Bind{{Name: "http", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{{
				Name: "web", Protocol: config.ProtocolHTTP,
				HTTPRoutes: []config.HTTPRoute{{RouteMeta: config.RouteMeta{Namespace: "default", Name: "r"}, Rules: []config.HTTPRouteRule{{
					BackendRefs: []config.BackendRef{{Backend: "b"}},
					Filters:     []config.HTTPFilter{{ResponseHeaderModifier: &config.HeaderModifier{Set: []config.HTTPHeader{{Name: "x-config", Value: header}}}}},
				}}}},
			}}}},
			Backends: []config.Backend{{Name: "b", Endpoints: []config.Endpoint{{Address: backend.Listener.Addr().String()}}}},
		}
		v, err := configstream.VersionOf(c)
		if err != nil {
			t.Fatal(err)
		}
		c.Version = v
		return c
	}
	key := configstream.GatewayKey{Namespace: "ns", Name: "gw"}
	snaps := configstream.NewSnapshots()
	if _, err := snaps.Set(key, mk("one")); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	var mu sync.Mutex
	auth := configstream.AuthenticatorFunc(func(_ context.Context, token string, n configstream.Node) error {
		mu.Lock()
		tokens = append(tokens, token+"|"+n.Pod)
		mu.Unlock()
		return nil
	})
	sp := startStreamProxy(t, snaps, auth, nil)
	admin := sp.admin
	header := func() string {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return resp.Header.Get("X-Config")
	}
	if h := header(); h != "one" {
		t.Fatalf("first config: %q", h)
	}
	if _, err := snaps.Set(key, mk("two")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pushed config", func() bool { return header() == "two" })
	mu.Lock()
	if len(tokens) == 0 || tokens[0] != "sa-token|gw-abc" {
		t.Errorf("authenticator saw %v", tokens)
	}
	mu.Unlock()

	// The operator goes away: the proxy keeps serving its last config.
	sp.gs.Stop()
	waitFor(t, "disconnect metric", func() bool {
		_, m := fetch(admin + "/metrics")
		return strings.Contains(m, `agentgateway_config_stream_disconnects_total{gateway="gw"} 1`) || strings.Contains(m, `agentgateway_config_stream_disconnects_total{gateway="gw"} 2`)
	})
	if h := header(); h != "two" {
		t.Fatalf("after losing the operator: %q", h)
	}
	sp.stop(t)
}

// streamProxy is a config server serving snaps and the proxy's run connected to it.
type streamProxy struct {
	gs     *grpc.Server
	o      *options
	admin  string // http://host:port of the admin listener
	cancel context.CancelFunc
	done   chan error
}

// startStreamProxy starts both and waits until the proxy is ready (its first config
// applied). obs may be nil.
func startStreamProxy(t *testing.T, snaps *configstream.Snapshots, auth configstream.Authenticator, obs configstream.Observer) *streamProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	caFile, serving := testCA(t, "127.0.0.1")
	gs := grpc.NewServer(append(configstream.ServerOptions(), configstream.ServerTLS(serving.GetCertificate))...)
	configstream.NewServer(snaps, auth, obs, nil).Register(gs)
	go func() {
		// Serve returns nil after Stop; anything else is a listener failure.
		if err := gs.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(gs.Stop)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("sa-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &options{xdsAddr: ln.Addr().String(), xdsCAFile: caFile, gateway: "gw", podName: "gw-abc", podNamespace: "ns", tokenFile: tokenFile,
		adminAddr: "127.0.0.1:0", pollInterval: time.Second, drainPeriod: time.Hour, endDrain: make(chan struct{}), drainTimeout: time.Second, logLevel: slog.LevelError}
	ctx, cancel := context.WithCancel(context.Background())
	adminCh := make(chan net.Addr, 1)
	sp := &streamProxy{gs: gs, o: o, cancel: cancel, done: make(chan error, 1)}
	go func() { sp.done <- run(ctx, o, adminCh) }()
	sp.admin = "http://" + (<-adminCh).String()
	waitFor(t, "ready", func() bool { c, _ := fetch(sp.admin + "/ready"); return c == 200 })
	return sp
}

// stop shuts the proxy down (drain ended at once) and checks it exited cleanly.
func (sp *streamProxy) stop(t *testing.T) {
	t.Helper()
	sp.cancel()
	close(sp.o.endDrain)
	if err := <-sp.done; err != nil {
		t.Fatal(err)
	}
}

func TestFlags(t *testing.T) {
	t.Setenv("GATEWAY_NAME", "")
	if _, err := parseFlags(nil); err == nil {
		t.Error("missing --config accepted")
	}
	// The arguments the operator's deployer renders.
	t.Setenv("POD_NAME", "gw-abc")
	t.Setenv("POD_NAMESPACE", "ns")
	if o, err := parseFlags([]string{"--xds-address=svc:9977", "--xds-ca-file=/ca/ca.crt", "--gateway=web", "--token-file=/t", "--health-addr=0.0.0.0:15021", "--metrics-addr=0.0.0.0:15020", "--log-level=info", "--log-format=json"}); err != nil ||
		o.xdsAddr != "svc:9977" || o.xdsCAFile != "/ca/ca.crt" || o.logFormat != "json" || o.adminAddr != "127.0.0.1:15000" || o.healthAddr != "0.0.0.0:15021" || o.metricsAddr != "0.0.0.0:15020" {
		t.Errorf("deployer arguments: %+v %v", o, err)
	}
	if _, err := parseFlags([]string{"--xds-address=svc:9977", "--gateway=web"}); err == nil || !strings.Contains(err.Error(), "--xds-ca-file") {
		t.Errorf("a stream without a CA: %v", err)
	}
	if _, err := parseFlags([]string{"--config", "x", "--xds-addr", "y:1"}); err == nil {
		t.Error("two config sources accepted")
	}
	if _, err := parseFlags([]string{"--xds-addr", "y:1", "--xds-ca-file", "c", "--pod-name", "p", "--pod-namespace", "n", "--gateway", ""}); err == nil {
		t.Error("--xds-addr without a gateway accepted")
	}
	t.Setenv("GATEWAY_NAME", "gw")
	if _, err := parseFlags([]string{"--xds-addr", "y:1", "--xds-ca-file", "c", "--pod-name", "p", "--pod-namespace", "n"}); err != nil {
		t.Errorf("GATEWAY_NAME not used: %v", err)
	}
	o, err := parseFlags([]string{"--config", "x.yaml", "--admin-addr", "127.0.0.1:0", "--log-level", "debug"})
	if err != nil || o.configPath != "x.yaml" || o.logLevel != slog.LevelDebug {
		t.Errorf("parse: %+v %v", o, err)
	}
}
