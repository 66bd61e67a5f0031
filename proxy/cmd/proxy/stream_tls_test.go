package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// testCA makes a CA, writes its certificate to a file (as the deployer mounts it) and
// returns that file with a serving certificate for host signed by the CA.
func testCA(t *testing.T, host string) (string, *streamcert.Serving) {
	t.Helper()
	ca, err := streamcert.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &streamcert.Serving{CA: ca, Hosts: []string{host}}
	if err := s.Renew(); err != nil {
		t.Fatal(err)
	}
	return f, s
}

// TestUnreachableControlPlane: a proxy whose config server does not answer logs every
// failed attempt, and its /ready says why it has no config.
func TestUnreachableControlPlane(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	if err := ln.Close(); err != nil { // nothing listens there now
		t.Fatal(err)
	}
	caFile, _ := testCA(t, "127.0.0.1")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("sa-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := newLogLines()
	o := &options{xdsAddr: closed, xdsCAFile: caFile, gateway: "gw", podName: "gw-abc", podNamespace: "ns", tokenFile: tokenFile,
		adminAddr: "127.0.0.1:0", healthAddr: "127.0.0.1:0", logFormat: "text", pollInterval: time.Second, drainTimeout: time.Second,
		logLevel: slog.LevelInfo, logOut: logs}
	ctx, cancel := context.WithCancel(context.Background())
	adminCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, adminCh) }()
	admin := "http://" + (<-adminCh).String()
	logs.waitFor(t, "level=WARN", "config stream ended", "config server "+closed+" unreachable", "connection refused")
	var body string
	waitFor(t, "/ready names the unreachable config server", func() bool {
		var code int
		code, body = fetch(admin + "/ready")
		return code == 503 && strings.HasPrefix(body, "no config yet: config server "+closed+" unreachable") && strings.Contains(body, "connection refused")
	})
	t.Logf("/ready: %s", strings.TrimSpace(body))
	if _, m := fetch(admin + "/metrics"); !strings.Contains(m, `agentgateway_config_stream_connected{gateway="gw"} 0`) {
		t.Errorf("metrics do not show the stream down:\n%s", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
