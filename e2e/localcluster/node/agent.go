package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/netns"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/rootfs"
)

// AgentConfig configures the node agent process.
type AgentConfig struct {
	Kubeconfig          string
	NodeName            string
	NodeIP              net.IP
	PodCIDR             string
	KubeletPort         int
	ServingCert         string
	ServingKey          string
	ClientCA            string // only holders of a cert from this CA (the apiserver) may call the kubelet API
	Network             netns.Config
	PodsDir             string
	CreatedDirsFile     string
	AgentBinary         string
	Store               *rootfs.Store
	ClusterDomain       string
	DNSIP               string
	KubernetesServiceIP string
	KubeletVersion      string
	Logf                func(format string, args ...any)
}

// RunAgent registers the node and serves pods until ctx ends.
func RunAgent(ctx context.Context, c AgentConfig) error {
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", c.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(c.ClientCA)
	if err != nil {
		return fmt.Errorf("read client CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(c.ServingCert, c.ServingKey)
	if err != nil {
		return fmt.Errorf("load kubelet serving cert: %w", err)
	}

	eb := record.NewBroadcaster()
	eb.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer eb.Shutdown()
	recorder := eb.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: c.NodeName})

	alloc := DefaultAllocatable(runtime.NumCPU())
	mux := http.NewServeMux()
	var prov *Provider
	n, err := nodeutil.NewNode(c.NodeName,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
			prov = NewProvider(ProviderConfig{
				Client: client, Recorder: recorder,
				ConfigMaps: pc.ConfigMaps, Secrets: pc.Secrets, Services: pc.Services,
				Network: c.Network, PodsDir: c.PodsDir, CreatedDirsFile: c.CreatedDirsFile,
				AgentBinary: c.AgentBinary, Store: c.Store,
				ClusterDomain: c.ClusterDomain, DNSIP: c.DNSIP, KubernetesServiceIP: c.KubernetesServiceIP,
				NodeName: c.NodeName, NodeIP: c.NodeIP.String(), Logf: c.Logf,
			}, alloc)
			return prov, nil, nil
		},
		func(cfg *nodeutil.NodeConfig) error {
			cfg.Client = client
			cfg.EventRecorder = recorder
			cfg.HTTPListenAddr = net.JoinHostPort(c.NodeIP.String(), strconv.Itoa(c.KubeletPort))
			cfg.TLSConfig = &tls.Config{
				Certificates: []tls.Certificate{cert},
				ClientCAs:    pool,
				ClientAuth:   tls.RequireAndVerifyClientCert,
				MinVersion:   tls.VersionTLS12,
			}
			cfg.Handler = mux
			cfg.SkipDownwardAPIResolution = true
			cfg.NumWorkers = 4
			cfg.InformerResyncPeriod = time.Minute
			cfg.NodeSpec = nodeSpec(c, alloc)
			return nil
		},
		nodeutil.AttachProviderRoutes(mux),
	)
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	if err := n.WaitReady(ctx, 2*time.Minute); err != nil {
		return fmt.Errorf("node %s never became ready: %w", c.NodeName, err)
	}
	c.Logf("node %s ready", c.NodeName)
	err = <-errc
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func nodeSpec(c AgentConfig, machine corev1.ResourceList) corev1.Node {
	now := metav1.Now()
	alloc := machine.DeepCopy()
	cpu := alloc[corev1.ResourceCPU]
	alloc[corev1.ResourceCPU] = *resource.NewQuantity(cpu.Value()*CPUOvercommit, resource.DecimalSI)
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: c.NodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname":                c.NodeName,
				"kubernetes.io/os":                      runtime.GOOS,
				"kubernetes.io/arch":                    runtime.GOARCH,
				"node-role.kubernetes.io/control-plane": "",
				"type":                                  "agentgateway-local",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: c.PodCIDR, PodCIDRs: []string{c.PodCIDR}},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodePending,
			Capacity:    alloc,
			Allocatable: alloc,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: c.NodeIP.String()},
				{Type: corev1.NodeHostName, Address: c.NodeName},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(c.KubeletPort)}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          c.KubeletVersion,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: "agentgateway-local://1",
			},
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", "starting"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", "bridge is up"),
			},
		},
	}
}
