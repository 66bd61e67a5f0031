// Package procs starts the local cluster's long-running processes and stops them again, by
// process group, from any later invocation.
//
// Every process gets its own process group (so a Ctrl-C in the terminal reaches only the CLI,
// which then stops them in order) and a pid file holding "pid starttime". The start time, read
// from /proc/<pid>/stat, guards against killing an unrelated process that reused the pid after
// a reboot or a long-dead cluster: nothing is ever stopped by name.
package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec describes one process.
type Spec struct {
	Name    string
	Path    string
	Args    []string
	Env     []string // appended to the parent's environment
	Dir     string
	LogPath string
	PidPath string
	// SysProcAttr overrides the default (a new process group).
	SysProcAttr *syscall.SysProcAttr
}

// Start launches the process detached from the caller's process group, with stdout and stderr
// appended to LogPath, and records it in PidPath. The caller does not need to Wait: the
// process outlives it on purpose.
func Start(s Spec) (*os.Process, error) {
	if err := os.MkdirAll(filepath.Dir(s.LogPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log dir for %s: %w", s.Name, err)
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", s.Name, err)
	}
	defer logf.Close() //nolint:errcheck // the child has its own descriptor; this copy only needs releasing
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = s.SysProcAttr
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Path, err)
	}
	if s.PidPath != "" {
		if err := WritePidFile(s.PidPath, cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill() //nolint:errcheck // the pid-file error is the one to report
			return nil, err
		}
	}
	// Reap in the background so a process that dies while we still run does not linger as a
	// zombie that Alive would report as running.
	go func() { _ = cmd.Wait() }() //nolint:errcheck // reaping only: the exit status of a background process is for its supervisor (Alive) to see
	return cmd.Process, nil
}

// WritePidFile records pid with its start time.
func WritePidFile(path string, pid int) error {
	st, err := StartTime(pid)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create pid dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", pid, st)), 0o644); err != nil {
		return fmt.Errorf("write pid file %s: %w", path, err)
	}
	return nil
}

// ReadPidFile returns the pid recorded in path if that process still runs (same start time),
// and 0 otherwise.
func ReadPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, fmt.Errorf("pid file %s is malformed; delete it", path)
	}
	pid, err1 := strconv.Atoi(f[0])
	st, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid file %s is malformed; delete it", path)
	}
	cur, err := StartTime(pid)
	if err != nil || cur != st || zombie(pid) {
		return 0, nil
	}
	return pid, nil
}

// StartTime returns the start time of pid in clock ticks since boot (field 22 of /proc/pid/stat).
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read start time of %d: %w", pid, err)
	}
	// The command name (field 2) may contain spaces; fields after the last ')' are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// Alive reports whether pid runs and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	return !zombie(pid)
}

// StopGroup sends SIGTERM to the process group led by pid, waits up to grace for the leader
// to exit, then sends SIGKILL to the group. It returns once the leader is gone.
func StopGroup(pid int, grace time.Duration) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM) //nolint:errcheck // ESRCH, a group already gone, is the goal
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			// The leader is gone; kill stragglers left in its group.
			_ = syscall.Kill(-pid, syscall.SIGKILL) //nolint:errcheck // ESRCH, a group already gone, is the goal
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) //nolint:errcheck // ESRCH, a group already gone, is the goal
	for i := 0; i < 100 && Alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// StopPidFile stops the process group recorded in path (if it still runs) and removes the file.
func StopPidFile(path string, grace time.Duration) error {
	pid, err := ReadPidFile(path)
	if err != nil {
		return err
	}
	StopGroup(pid, grace)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	return nil
}

// RSS returns the resident set size of pid in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// Listens reports whether pid, or a process in its process group, holds a socket bound to
// port: a TCP socket in LISTEN state (proto "tcp") or a bound UDP socket (proto "udp"), in
// the network namespace of the caller. Readiness checks use it so an answer from another
// program that happens to hold the port never passes for the component's.
func Listens(pid int, proto string, port int) (bool, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/" + proto, "/proc/net/" + proto + "6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return false, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 {
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			p, err := strconv.ParseUint(fs[1][i+1:], 16, 16)
			if err != nil || int(p) != port {
				continue
			}
			// 0A is TCP_LISTEN; an unconnected bound UDP socket shows 07 (TCP_CLOSE).
			if (proto == "tcp" && fs[3] == "0A") || (proto == "udp" && fs[3] == "07") {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false, nil
	}
	pids, err := groupMembers(pid)
	if err != nil {
		return false, err
	}
	for _, p := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", p)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // exited meanwhile
		}
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && inodes[l] {
				return true, nil
			}
		}
	}
	return false, nil
}

// groupMembers lists pid and the processes in the process group pid leads.
func groupMembers(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := []int{pid}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if g, err := syscall.Getpgid(p); err == nil && g == pid {
			out = append(out, p)
		}
	}
	return out, nil
}

// Tail returns the last n lines of the file at path, or a note saying why it cannot.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
