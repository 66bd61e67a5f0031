// Package podinit is the first program of every container process: the node agent re-executes
// itself as `<agent> __pod-init <spec.json>` in a new mount and UTS namespace, and this code
// joins the pod's network namespace, bind-mounts the pod's volumes at their paths, sets the
// hostname, and execs the container's command.
//
// It runs in a fresh process because Go cannot run code between fork and exec: setns(2) for
// the network namespace applies to the calling thread, and execve(2) from that locked thread
// makes the whole new program live in it. The mount namespace comes from clone(2) flags, so
// the binds are private to the pod and vanish with its last process: nothing to unmount.
package podinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Arg is the argv[1] that selects this code in the node agent binary.
const Arg = "__pod-init"

// Mount binds Source (a host file or directory) at Target inside the pod.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec is what the agent writes for one container start.
type Spec struct {
	NetNS    string   `json:"netns"`
	Hostname string   `json:"hostname"`
	Mounts   []Mount  `json:"mounts"`
	Dir      string   `json:"dir,omitempty"`
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	// CreatedDirsFile records mount points this code had to create on the host filesystem, so
	// `down` can remove them again.
	CreatedDirsFile string `json:"createdDirsFile,omitempty"`
	// RootFS, when set, runs the container inside its image: mount targets and Dir are paths in
	// the image, and Argv[0] resolves through the PATH in Env. Without it the container sees the
	// node's filesystem (the host image for test clients).
	RootFS *RootFS `json:"rootfs,omitempty"`
	// Identity, when set, is the user, groups and capabilities the command runs with.
	Identity *Identity `json:"identity,omitempty"`
	// Sysctls are written in the pod's network namespace before anything else.
	Sysctls map[string]string `json:"sysctls,omitempty"`
}

// Main runs the helper and never returns on success.
func Main(args []string) {
	if err := run(args); err != nil {
		fmt.Fprintf(os.Stderr, "pod-init: %v\n", err)
		os.Exit(127)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: __pod-init <spec.json>")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode %s: %w", args[0], err)
	}
	if len(s.Argv) == 0 {
		return errors.New("empty command")
	}
	runtime.LockOSThread()
	if s.NetNS != "" {
		fd, err := unix.Open(s.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", s.NetNS, err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("join netns %s: %w", s.NetNS, err)
		}
		unix.Close(fd) //nolint:errcheck // a namespace descriptor: closing only releases it
	}
	if len(s.Sysctls) > 0 {
		if s.NetNS == "" {
			return errors.New("pod sysctls need the pod's own network namespace (not hostNetwork)")
		}
		if err := writeSysctls(s.Sysctls); err != nil {
			return err
		}
	}
	if s.RootFS != nil {
		return runInImage(&s)
	}
	// Open the program before the volumes are mounted: a volume may cover the directory it
	// lives in (a ConfigMap mounted at /root, over the build cache).
	prog, err := unix.Open(s.Argv[0], unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open program %s: %w", s.Argv[0], err)
	}
	sources, err := privateMountsAndSources(s.Mounts)
	if err != nil {
		return err
	}
	var record io.Writer
	if s.CreatedDirsFile != "" {
		f, err := os.OpenFile(s.CreatedDirsFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open %s: %w", s.CreatedDirsFile, err)
		}
		record = f
	}
	for i, m := range s.Mounts {
		if err := bind(sources[i], m, record); err != nil {
			return err
		}
	}
	if s.Identity != nil {
		if err := become(s.Identity); err != nil {
			return err
		}
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if s.Dir != "" {
		if err := os.Chdir(s.Dir); err != nil {
			return fmt.Errorf("chdir to workingDir %s: %w", s.Dir, err)
		}
	}
	return syscall.Exec(programPath(prog, s.Argv[0]), s.Argv, s.Env)
}

// privateMountsAndSources makes the mount namespace's mounts private, so the binds that follow
// do not propagate back to the host's shared mounts, and opens every volume source before the
// first bind: a volume mounted early may cover the host directory that holds a later volume's
// source (a ConfigMap at /root hides the cluster state under /root/.cache).
func privateMountsAndSources(mounts []Mount) ([]int, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	sources := make([]int, len(mounts))
	for i, m := range mounts {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("volume source %s: %w", m.Source, err)
		}
		sources[i] = fd
	}
	return sources, nil
}

// runInImage is run for a container with a root filesystem of its own.
func runInImage(s *Spec) error {
	sources, err := privateMountsAndSources(s.Mounts)
	if err != nil {
		return err
	}
	if err := mountRootFS(s.RootFS); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		// Mount points go into the container's upper layer; nothing to record on the node.
		m.Target = filepath.Join(s.RootFS.Merged, filepath.Clean("/"+m.Target))
		if err := bind(sources[i], m, nil); err != nil {
			return err
		}
		unix.Close(sources[i]) //nolint:errcheck // a mount source descriptor: closing only releases it
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if err := enterRootFS(s.RootFS, s.Dir); err != nil {
		return err
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("chdir to workingDir %s: %w", dir, err)
	}
	prog, err := lookPath(s.Argv[0], s.Env)
	if err != nil {
		return err
	}
	if s.Identity != nil {
		if err := become(s.Identity); err != nil {
			return err
		}
	}
	if err := syscall.Exec(prog, s.Argv, s.Env); err != nil {
		return fmt.Errorf("exec %s: %w", prog, err)
	}
	return nil
}

// programPath is path when it still names the opened program, else the program's descriptor
// in /proc (the host's /proc, never a pod volume). An ELF program runs through its descriptor
// even with O_CLOEXEC, as the kernel opens it before closing descriptors; scripts need the
// path, which is why it is preferred.
func programPath(fd int, path string) string {
	var opened, now unix.Stat_t
	if unix.Fstat(fd, &opened) == nil && unix.Stat(path, &now) == nil && opened.Dev == now.Dev && opened.Ino == now.Ino {
		return path
	}
	return fmt.Sprintf("/proc/self/fd/%d", fd)
}

// bind mounts the opened source at m.Target, through the source's descriptor in /proc.
func bind(source int, m Mount, record io.Writer) error {
	var st unix.Stat_t
	if err := unix.Fstat(source, &st); err != nil {
		return fmt.Errorf("volume source %s: %w", m.Source, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := mkdirAll(m.Target, record); err != nil {
			return err
		}
	} else {
		if err := mkdirAll(filepath.Dir(m.Target), record); err != nil {
			return err
		}
		if _, err := os.Lstat(m.Target); errors.Is(err, os.ErrNotExist) {
			f, err := os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create mount point %s: %w", m.Target, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("create mount point %s: %w", m.Target, err)
			}
			if err := appendRecord(record, m.Target); err != nil {
				return err
			}
		}
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", source), m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// mkdirAll creates dir and records each directory it had to create, outermost first.
func mkdirAll(dir string, record io.Writer) error {
	var missing []string
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create mount point %s: %w", missing[i], err)
		}
		if err := appendRecord(record, missing[i]); err != nil {
			return err
		}
	}
	return nil
}

// appendRecord notes path as created; a path missing from the record would be left behind
// by RemoveCreated, so a failed write is an error.
func appendRecord(record io.Writer, path string) error {
	if record != nil {
		if _, err := fmt.Fprintln(record, path); err != nil {
			return fmt.Errorf("record created path %s: %w", path, err)
		}
	}
	return nil
}

// RemoveCreated removes the mount points listed in record (deepest first, only when empty),
// then the record itself. Directories that hold anything else are left alone.
func RemoveCreated(record string) {
	b, err := os.ReadFile(record)
	if err != nil {
		return
	}
	// Deepest first, so parents empty out before their turn.
	seen := map[string]bool{}
	var paths []string
	for _, p := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if p != "" && !seen[p] && filepath.IsAbs(p) && p != "/" {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return strings.Count(paths[i], "/") > strings.Count(paths[j], "/") })
	for _, p := range paths {
		if fi, err := os.Lstat(p); err == nil {
			if fi.IsDir() {
				_ = os.Remove(p) //nolint:errcheck // fails, harmlessly, when not empty
			} else if fi.Mode().IsRegular() && fi.Size() == 0 {
				_ = os.Remove(p) //nolint:errcheck // best effort, like the directories above
			}
		}
	}
	_ = os.Remove(record) //nolint:errcheck // best effort: the record has served its purpose
}
