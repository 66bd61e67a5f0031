// Package clustertest gives tests a running local cluster, started once per test binary from
// TestMain, or an already running one named by $AGW_KUBECONFIG.
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//	func TestX(t *testing.T) { c := clustertest.Require(t); ... c.Client ... }
//
// A cluster is started only when $AGW_E2E=1 and the process is root; otherwise Require skips
// with the reason. With $AGW_KEEP_CLUSTER=1 the cluster stays up after the tests (attach to
// it next time with AGW_KUBECONFIG=$(localcluster kubeconfig)).
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
)

// Cluster is what a test gets.
type Cluster struct {
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// StateDir is empty when attached through $AGW_KUBECONFIG.
	StateDir string
}

var (
	current    *Cluster
	skipReason = "clustertest.Main was not called from TestMain"
)

// Main starts the cluster if asked to, runs the tests, tears the cluster down, and checks
// that nothing of it is left on the machine. It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	if kc := os.Getenv("AGW_KUBECONFIG"); kc != "" {
		c, err := attach(kc, "")
		if err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: attach to %s: %v\n", kc, err)
			return 1
		}
		current = c
		return m.Run()
	}
	if os.Getenv("AGW_E2E") != "1" {
		skipReason = "set AGW_E2E=1 (as root) to start a local cluster, or AGW_KUBECONFIG to use a running one"
		return m.Run()
	}
	if os.Geteuid() != 0 {
		skipReason = "the local cluster needs root (network namespaces, bridge, iptables)"
		return m.Run()
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		return 1
	}
	root, err := localcluster.FindRepoRoot(wd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		return 1
	}
	// `go test ./...` runs test binaries in parallel, and the machine holds one cluster: each
	// binary that starts one waits for the previous one to be down. The kernel drops the lock
	// when the process exits.
	if err := os.MkdirAll(localcluster.CacheDir(), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		return 1
	}
	lock, err := os.OpenFile(filepath.Join(localcluster.CacheDir(), "cluster.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		return 1
	}
	defer lock.Close() //nolint:errcheck // closing releases the lock; nothing was written
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: waiting for another test binary's local cluster to go down (%s)\n", lock.Name())
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: lock %s: %v\n", lock.Name(), err)
			return 1
		}
	}
	agent := filepath.Join(localcluster.CacheDir(), "bin", "localcluster")
	fmt.Fprintln(os.Stderr, "clustertest: building the localcluster CLI...")
	build := exec.Command("go", "build", "-o", agent, "./e2e/cmd/localcluster")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: build localcluster: %v\n", err)
		return 1
	}
	opts := localcluster.Options{
		StateDir: localcluster.DefaultStateDir(), RepoRoot: root, AgentBinary: agent, Out: os.Stderr,
	}
	keep := os.Getenv("AGW_KEEP_CLUSTER") == "1"
	down := func() int {
		if keep {
			fmt.Fprintf(os.Stderr, "clustertest: AGW_KEEP_CLUSTER=1: leaving the cluster up (%s)\n", localcluster.KubeconfigPath(opts.StateDir))
			return 0
		}
		code := 0
		if err := localcluster.Down(opts); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: down: %v\n", err)
			code = 1
		}
		if left := localcluster.Leftovers(opts.StateDir); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "clustertest: down left these behind: %v\n", left)
			code = 1
		}
		return code
	}
	// Ctrl-C while tests run: clean up before dying.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "clustertest: interrupted, tearing down the cluster")
		keep = false
		down()
		os.Exit(130)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	err = localcluster.Up(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: up: %v\n", err)
		keep = false
		down()
		return 1
	}
	c, err := attach(localcluster.KubeconfigPath(opts.StateDir), opts.StateDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		down()
		return 1
	}
	current = c
	code := m.Run()
	if d := down(); d != 0 && code == 0 {
		code = d
	}
	return code
}

func attach(kubeconfig, stateDir string) (*Cluster, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &Cluster{Kubeconfig: kubeconfig, Config: rc, Client: cs, StateDir: stateDir}, nil
}

// Require returns the cluster or skips the test with the reason there is none.
func Require(t testing.TB) *Cluster {
	t.Helper()
	if current == nil {
		t.Skip(skipReason)
	}
	return current
}

// WaitRoutes waits until a TCP connection to hostport, a LoadBalancer address and port, is
// accepted, or ctx ends. The allocator writes a Service's address, and the operator calls a
// Gateway Programmed with it, before kube-proxy has written the rules that send the address
// to the endpoints; until then the local cluster refuses connections to the address (see
// netns.LBChain). kube-proxy replaces its rules in one iptables-restore, so once one
// connection reaches an endpoint, the following ones do too.
func WaitRoutes(ctx context.Context, hostport string) error {
	var last error
	for {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", hostport)
		if err == nil {
			return c.Close()
		}
		last = err
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s is not routed to an endpoint: %w", hostport, errors.Join(ctx.Err(), last))
		case <-t.C:
		}
	}
}
