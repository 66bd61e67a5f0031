package localcluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/certs"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/controlplane"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/netns"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/procs"
)

// PartialUpForDev is temporary (deleted before handoff).
func PartialUpForDev(ctx context.Context, o Options, skip []string) error {
	o.defaults()
	binDir := "/root/.cache/agentgateway-go/kube/v1.37.2-etcdv3.6.16/bin"
	_ = os.MkdirAll(o.StateDir, 0o755)
	st := state{BinDir: binDir}
	_ = writeState(o.StateDir, st)
	host, err := netns.SetupHost(netConfig())
	st.Host = host
	_ = writeState(o.StateDir, st)
	if err != nil {
		return err
	}
	cp := cpConfig(o.StateDir, binDir, "")
	if _, err := certs.Generate(cp.PKI.Dir, certs.Options{
		APIServerIPs: []net.IP{NodeIP, net.ParseIP(KubernetesIP)}, NodeName: NodeName, NodeIP: NodeIP,
		ServerURL: cp.APIServerURL(), ClusterDomain: ClusterDomain,
	}); err != nil {
		return err
	}
	skipm := map[string]bool{}
	for _, s := range skip {
		skipm[s] = true
	}
	for _, c := range controlplane.ControlPlane(cp) {
		if skipm[c.Name] {
			continue
		}
		t := time.Now()
		if err := controlplane.Start(ctx, c, 90*time.Second); err != nil {
			return err
		}
		o.logf("%s ready in %s", c.Name, since(t))
	}
	client, err := Client(o.StateDir)
	if err != nil {
		return err
	}
	if err := bootstrapObjects(ctx, client); err != nil {
		return err
	}
	t := time.Now()
	if _, err := procs.Start(procs.Spec{
		Name: agentComponent, Path: o.AgentBinary,
		Args:    []string{"node", "--state-dir", o.StateDir, "--repo-root", o.RepoRoot},
		LogPath: filepath.Join(cp.LogDir(), agentComponent+".log"),
		PidPath: cp.PidFile(agentComponent),
	}); err != nil {
		return err
	}
	if err := waitNodeReady(ctx, client, cp.PidFile(agentComponent), 60*time.Second); err != nil {
		return err
	}
	o.logf("node ready in %s", since(t))
	return nil
}
