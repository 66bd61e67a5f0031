// Temporary: partial bring-up while kube-scheduler/kube-proxy build. Deleted before handoff.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
)

func main() {
	err := localcluster.PartialUpForDev(context.Background(), localcluster.Options{
		StateDir: localcluster.DefaultStateDir(), RepoRoot: "/work/main",
		AgentBinary: filepath.Join(localcluster.CacheDir(), "bin", "localcluster"), Out: os.Stderr,
	}, os.Args[1:])
	fmt.Println(err)
	_ = time.Second
}
