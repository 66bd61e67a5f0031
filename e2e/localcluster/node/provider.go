// Package node is the local cluster's node agent: a virtual-kubelet provider that runs every
// pod as local processes, one network namespace (veth on the cluster bridge, real pod IP) and
// one mount namespace per container, each container in the image it names, pulled from the
// local registry (package rootfs).
//
// virtual-kubelet owns the Kubernetes side (Node object, Lease, pod informers, status
// write-back, the kubelet HTTP API); this package owns the pod lifecycle: volumes, env,
// processes, probes, restarts with back-off, graceful termination and logs.
package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/netns"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/rootfs"
)

// ProviderConfig is what the provider needs besides virtual-kubelet's listers.
type ProviderConfig struct {
	Client          kubernetes.Interface
	Recorder        record.EventRecorder
	ConfigMaps      corev1listers.ConfigMapLister
	Secrets         corev1listers.SecretLister
	Services        corev1listers.ServiceLister
	Network         netns.Config
	PodsDir         string // per-pod state: volumes, logs, pid files
	CreatedDirsFile string // mount points created on the host filesystem, removed by `down`
	AgentBinary     string // this program, re-executed as the pod-init helper
	// Store pulls and unpacks images from the local registry.
	Store               *rootfs.Store
	ClusterDomain       string
	DNSIP               string
	KubernetesServiceIP string
	NodeName            string
	NodeIP              string
	Logf                func(format string, args ...any)
}

// Provider implements nodeutil.Provider and node.PodNotifier.
type Provider struct {
	cfg         ProviderConfig
	allocatable corev1.ResourceList

	mu     sync.Mutex
	pods   map[string]*podRun // namespace/name
	ips    map[string]string  // ip -> pod key
	lastIP uint32             // offset of the last address handed out
	notify func(*corev1.Pod)
}

// NewProvider returns a provider; allocatable feeds resourceFieldRef defaults.
func NewProvider(cfg ProviderConfig, allocatable corev1.ResourceList) *Provider {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Provider{cfg: cfg, allocatable: allocatable, pods: map[string]*podRun{}, ips: map[string]string{}}
}

// CPUOvercommit is how many times the machine's CPUs the node offers to the scheduler. Pods
// are processes without CPU limits (requests steer the scheduler only), and the conformance
// suite's two dozen proxies request 100m each, more than a 2-core machine has. The downward
// API's default CPU limit stays the machine's (DefaultAllocatable).
const CPUOvercommit = 8

// DefaultAllocatable describes this machine.
func DefaultAllocatable(cpus int) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(cpus), resource.DecimalSI),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("250"),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
}

func key(ns, name string) string { return ns + "/" + name }

// NotifyPods registers virtual-kubelet's status callback.
func (p *Provider) NotifyPods(_ context.Context, f func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = f
	p.mu.Unlock()
}

func (p *Provider) emit(pod *corev1.Pod) {
	p.mu.Lock()
	f := p.notify
	p.mu.Unlock()
	if f != nil {
		f(pod)
	}
}

// CreatePod starts the pod's lifecycle in the background; progress arrives through NotifyPods.
func (p *Provider) CreatePod(_ context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	if _, ok := p.pods[k]; ok {
		p.mu.Unlock()
		return nil
	}
	r := newPodRun(p, pod.DeepCopy())
	p.pods[k] = r
	p.mu.Unlock()
	go r.run()
	return nil
}

// UpdatePod records the latest object (labels and annotations feed the downward API).
func (p *Provider) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	r := p.pods[key(pod.Namespace, pod.Name)]
	p.mu.Unlock()
	if r == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	r.update(pod)
	return nil
}

// DeletePod starts graceful termination; it returns at once and may be called repeatedly.
func (p *Provider) DeletePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	r := p.pods[key(pod.Namespace, pod.Name)]
	p.mu.Unlock()
	if r == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	r.stop(grace)
	return nil
}

func (p *Provider) forget(r *podRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pods[r.key] == r {
		delete(p.pods, r.key)
	}
}

// GetPod returns the provider's view of a pod.
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	r := p.pods[key(namespace, name)]
	p.mu.Unlock()
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return r.snapshot(), nil
}

// GetPodStatus returns the status of a pod.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods lists the pods on this node.
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.snapshot())
	}
	return out, nil
}

// allocateIP hands out addresses of the node's pod CIDR round-robin, like host-local IPAM:
// reusing an address at once would leave peers with a stale ARP entry for the old veth.
func (p *Provider) allocateIP(podKey string) (net.IP, error) {
	gw := p.cfg.Network.GatewayCIDR
	base := binary.BigEndian.Uint32(gw.IP.Mask(gw.Mask).To4())
	ones, bits := gw.Mask.Size()
	size := uint32(1) << (bits - ones)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := uint32(0); i < size; i++ {
		off := (p.lastIP + 1 + i) % size
		if off < 2 || off == size-1 { // network, gateway, broadcast
			continue
		}
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+off)
		if ip.Equal(gw.IP) {
			continue
		}
		if _, used := p.ips[ip.String()]; !used {
			p.ips[ip.String()] = podKey
			p.lastIP = off
			return ip, nil
		}
	}
	return nil, fmt.Errorf("pod CIDR %s is full", gw)
}

func (p *Provider) releaseIP(ip net.IP) {
	if ip == nil {
		return
	}
	p.mu.Lock()
	delete(p.ips, ip.String())
	p.mu.Unlock()
}

func (p *Provider) lookup(namespace, name string) (*podRun, error) {
	p.mu.Lock()
	r := p.pods[key(namespace, name)]
	p.mu.Unlock()
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return r, nil
}

// GetContainerLogs serves `kubectl logs`, including -f, --tail, --limit-bytes and --previous.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	r, err := p.lookup(namespace, podName)
	if err != nil {
		return nil, err
	}
	return r.logs(ctx, containerName, opts)
}

// RunInContainer serves `kubectl exec` by entering the container's namespaces with nsenter.
func (p *Provider) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	r, err := p.lookup(namespace, podName)
	if err != nil {
		return err
	}
	return r.exec(ctx, containerName, cmd, attach)
}

// AttachToContainer is not supported: container stdio goes to log files.
func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported by the local node; use kubectl logs -f")
}

// GetStatsSummary reports no stats: nothing in the project consumes them.
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: p.cfg.NodeName}}, nil
}

// GetMetricsResource reports no metrics.
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

// PortForward serves `kubectl port-forward` by dialing the pod IP from the host.
func (p *Provider) PortForward(ctx context.Context, namespace, podName string, port int32, stream io.ReadWriteCloser) error {
	r, err := p.lookup(namespace, podName)
	if err != nil {
		return err
	}
	pod := r.snapshot()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(pod.Status.PodIP, fmt.Sprint(port)))
	if err != nil {
		return fmt.Errorf("dial pod %s port %d: %w", podName, port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }() //nolint:errcheck // a copy ends when either side goes; the forward is over then
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }() //nolint:errcheck // a copy ends when either side goes; the forward is over then
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// PidFiles lists the pid files of every container process under podsDir, for `down` after
// the agent died.
func PidFiles(podsDir string) []string {
	m, _ := filepath.Glob(filepath.Join(podsDir, "*", "pids", "*.pid")) //nolint:errcheck // the pattern is fixed and valid: Glob fails only on a bad pattern
	sort.Strings(m)
	return m
}

func mkdir(p string) error { return os.MkdirAll(p, 0o755) }
