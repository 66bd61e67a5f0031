// Command localcluster drives the project's local Kubernetes cluster (no Docker needed):
//
//	localcluster up          build or reuse binaries, start everything, wait for the node
//	localcluster down        stop every process and remove namespaces, links, rules, state
//	localcluster status      component pids, memory and health
//	localcluster kubeconfig  print the admin kubeconfig path
//
// It must run as root. State lives in $AGW_CLUSTER_DIR (default ~/.cache/agentgateway-go/cluster).
// `node`, `registry` and `__pod-init` are internal: the node agent, the local OCI registry and
// the first program of every container.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/podinit"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == podinit.Arg {
		podinit.Main(os.Args[2:])
		return
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	stateDir := fs.String("state-dir", localcluster.DefaultStateDir(), "cluster state directory")
	repoRoot := fs.String("repo-root", "", "agentgateway-go checkout (default: found from the working directory)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *repoRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(os.Stderr, "working directory:", err)
			os.Exit(2)
		}
		if r, err := localcluster.FindRepoRoot(wd); err == nil {
			*repoRoot = r
		}
	}
	opts := localcluster.Options{StateDir: *stateDir, RepoRoot: *repoRoot, Out: os.Stderr}
	switch os.Args[1] {
	case "up":
		os.Exit(up(opts))
	case "down":
		if err := localcluster.Down(opts); err != nil {
			fmt.Fprintf(os.Stderr, "localcluster down: %v\n", err)
			os.Exit(1)
		}
	case "status":
		for _, l := range localcluster.Status(*stateDir) {
			fmt.Println(l)
		}
		if left := localcluster.Leftovers(*stateDir); len(left) > 0 {
			fmt.Println("present:", len(left), "items (processes, namespaces, links, rules, state)")
		}
	case "kubeconfig":
		fmt.Println(localcluster.KubeconfigPath(*stateDir))
	case "registry":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := localcluster.RunRegistry(ctx, *stateDir)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "registry: %v\n", err)
			os.Exit(1)
		}
	case "node":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := localcluster.RunAgent(ctx, *stateDir)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "node agent: %v\n", err)
			os.Exit(1)
		}
	default:
		usage()
		os.Exit(2)
	}
}

func up(opts localcluster.Options) int {
	if opts.RepoRoot == "" {
		fmt.Fprintln(os.Stderr, "localcluster up: run from an agentgateway-go checkout or pass --repo-root")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster up: %v\n", err)
		return 1
	}
	// The node agent re-executes this binary long after `go run` deleted its temporary copy:
	// keep a copy under the state dir's sibling cache.
	agent := filepath.Join(localcluster.CacheDir(), "bin", "localcluster")
	if err := copyExecutable(self, agent); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster up: %v\n", err)
		return 1
	}
	opts.AgentBinary = agent
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := localcluster.Up(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster up: %v\ncleaning up...\n", err)
		if derr := localcluster.Down(opts); derr != nil {
			fmt.Fprintf(os.Stderr, "localcluster down: %v\n", derr)
		}
		return 1
	}
	fmt.Println(localcluster.KubeconfigPath(opts.StateDir))
	return 0
}

func copyExecutable(src, dst string) error {
	if src == dst {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read own binary: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return fmt.Errorf("copy own binary: %w", err)
	}
	// Rename keeps a running agent's old inode intact.
	return os.Rename(tmp, dst)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: localcluster up|down|status|kubeconfig [--state-dir DIR] [--repo-root DIR]")
}
