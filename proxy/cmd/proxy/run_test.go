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
	"testing"
	"time"
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
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	o := &options{configPath: path, adminAddr: "127.0.0.1:0", pollInterval: 10 * time.Millisecond, drainPeriod: time.Hour, endDrain: make(chan struct{}), drainTimeout: time.Second, logLevel: slog.LevelError}
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
	// The source disappears entirely: still serving.
	os.Remove(path)
	time.Sleep(50 * time.Millisecond)
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

func TestFlags(t *testing.T) {
	if _, err := parseFlags(nil); err == nil {
		t.Error("missing --config accepted")
	}
	o, err := parseFlags([]string{"--config", "x.yaml", "--admin-addr", "127.0.0.1:0", "--log-level", "debug"})
	if err != nil || o.configPath != "x.yaml" || o.logLevel != slog.LevelDebug {
		t.Errorf("parse: %+v %v", o, err)
	}
}
