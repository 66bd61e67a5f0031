package procs

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStartStopByPidFile(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "run", "sleep.pid")
	// A shell that ignores SIGTERM, with a child in the same group: StopGroup must escalate.
	p, err := Start(Spec{
		Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; sleep 60 & wait"},
		LogPath: filepath.Join(dir, "logs", "sleep.log"), PidPath: pidFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := ReadPidFile(pidFile)
	if err != nil || pid != p.Pid {
		t.Fatalf("ReadPidFile = %d, %v; want %d", pid, err, p.Pid)
	}
	if rss, err := RSS(pid); err != nil || rss <= 0 {
		t.Errorf("RSS = %d, %v", rss, err)
	}
	start := time.Now()
	if err := StopPidFile(pidFile, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) {
		t.Fatal("process survived StopPidFile")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("stop took %s", time.Since(start))
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

func TestStalePidFileIsIgnored(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.pid")
	// Our own pid with a wrong start time stands for a reused pid: never signal it.
	if err := os.WriteFile(f, []byte("1 12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := ReadPidFile(f); err != nil || pid != 0 {
		t.Fatalf("ReadPidFile = %d, %v; want 0", pid, err)
	}
}

func TestListensSeesOnlyTheOwner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if ok, err := Listens(os.Getpid(), "tcp", port); err != nil || !ok {
		t.Fatalf("Listens(self, %d) = %v, %v; want true", port, ok, err)
	}
	// Another process that holds no socket: the port is held, but not by it.
	dir := t.TempDir()
	p, err := Start(Spec{Name: "sleeper", Path: "/bin/sleep", Args: []string{"60"},
		LogPath: filepath.Join(dir, "sleep.log"), PidPath: filepath.Join(dir, "sleep.pid")})
	if err != nil {
		t.Fatal(err)
	}
	defer StopGroup(p.Pid, time.Second)
	if ok, err := Listens(p.Pid, "tcp", port); err != nil || ok {
		t.Fatalf("Listens(other, %d) = %v, %v; want false", port, ok, err)
	}
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if ok, err := Listens(os.Getpid(), "udp", uc.LocalAddr().(*net.UDPAddr).Port); err != nil || !ok {
		t.Fatalf("Listens(self, udp) = %v, %v; want true", ok, err)
	}
}

func TestTailKeepsTheLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 2); got != "c\nd" {
		t.Fatalf("Tail = %q", got)
	}
}
