package localcluster

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/lbipam"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/node"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/registry"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/rootfs"
)

// RunAgent is the body of `localcluster node`: the node agent and the LoadBalancer allocator,
// in one process so they share a client and die together.
func RunAgent(ctx context.Context, stateDir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	logf := logger.Printf
	cp := cpConfig(stateDir, "", "")
	client, err := Client(stateDir)
	if err != nil {
		return err
	}
	go lbipam.Run(ctx, client, lbipam.Pool{First: net.ParseIP(LBFirst), Last: net.ParseIP(LBLast)}, logf)
	mirrors, err := registry.LoadMirrors(MirrorsDir(stateDir))
	if err != nil {
		return err
	}
	logf("pulling images through mirrors %v", mirrors)
	return node.RunAgent(ctx, node.AgentConfig{
		Store:               &rootfs.Store{Dir: filepath.Join(CacheDir(), "images", "rootfs"), Mirrors: mirrors},
		Kubeconfig:          KubeconfigPath(stateDir),
		NodeName:            NodeName,
		NodeIP:              NodeIP,
		PodCIDR:             PodCIDR,
		KubeletPort:         KubeletPort,
		ServingCert:         cp.PKI.KubeletCert,
		ServingKey:          cp.PKI.KubeletKey,
		ClientCA:            cp.PKI.CACert,
		Network:             netConfig(),
		PodsDir:             filepath.Join(stateDir, "pods"),
		CreatedDirsFile:     filepath.Join(stateDir, "created-dirs"),
		AgentBinary:         self,
		ClusterDomain:       ClusterDomain,
		DNSIP:               DNSIP,
		KubernetesServiceIP: KubernetesIP,
		KubeletVersion:      KubeVersion,
		Logf:                logf,
	})
}
