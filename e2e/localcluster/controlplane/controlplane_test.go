package controlplane

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/procs"
)

// TestAnotherProgramOnThePortIsNotReady reproduces the CoreDNS failure: another program holds
// the component's port and answers its health check. The component must not pass for ready.
func TestAnotherProgramOnThePortIsNotReady(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	port := other.Listener.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	comp := Component{
		Name: "fake",
		Spec: procs.Spec{Name: "fake", Path: "/bin/sleep", Args: []string{"60"},
			LogPath: filepath.Join(dir, "fake.log"), PidPath: filepath.Join(dir, "fake.pid")},
		Ready:  httpReady(other.URL, nil),
		Listen: Socket{"tcp", port},
	}
	if err := comp.Ready(context.Background()); err != nil {
		t.Fatalf("the other program does answer the check: %v", err)
	}
	p, err := procs.Start(comp.Spec)
	if err != nil {
		t.Fatal(err)
	}
	defer procs.StopGroup(p.Pid, time.Second)
	err = WaitReady(context.Background(), comp, p.Pid, time.Second)
	if err == nil || !strings.Contains(err.Error(), "does not hold tcp port") {
		t.Fatalf("WaitReady = %v, want a not-ready error naming the port", err)
	}
}

func TestComponentThatExitsFailsWithItsLog(t *testing.T) {
	dir := t.TempDir()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	if err := free.Close(); err != nil {
		t.Fatal(err)
	}
	comp := Component{
		Name: "dies",
		Spec: procs.Spec{Name: "dies", Path: "/bin/sh", Args: []string{"-c", "echo listen tcp :53: bind: address already in use; exit 1"},
			LogPath: filepath.Join(dir, "dies.log"), PidPath: filepath.Join(dir, "dies.pid")},
		Ready:  func(context.Context) error { return nil },
		Listen: Socket{"tcp", port},
	}
	err = Start(context.Background(), comp, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited during startup") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start = %v, want an exit error with the log tail", err)
	}
}
