// Package localcluster brings up and tears down the project's local Kubernetes cluster: a real
// control plane built from the Go module proxy, and one node whose pods are local processes in
// their own network and mount namespaces on a private bridge (README.md beside this file).
//
// Addresses (all private, all only on the bridge agw0 and in namespaces this package creates):
//
//	10.244.0.0/16  cluster CIDR; the node's pod CIDR is 10.244.0.0/24, gateway 10.244.0.1
//	               (also the node IP, the apiserver, the kubelet API and CoreDNS listen there)
//	10.96.0.0/16   Service CIDR; 10.96.0.1 is `kubernetes`, 10.96.0.10 is `kube-dns`
//	10.245.0.0/24  LoadBalancer pool 10.245.0.10-10.245.0.250 (bridge address 10.245.0.1)
//
// State lives in $AGW_CLUSTER_DIR, default ${XDG_CACHE_HOME:-~/.cache}/agentgateway-go/cluster:
// pki/, logs/, run/*.pid, etcd/, pods/, state.json. `down` removes it.
package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/certs"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/controlplane"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/imagepush"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/netns"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/node"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/podinit"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/procs"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/registry"
)

// Fixed cluster layout; see the package comment.
const (
	Bridge        = "agw0"
	NodeName      = "agw-local"
	ClusterDomain = "cluster.local"
	ClusterCIDR   = "10.244.0.0/16"
	PodCIDR       = "10.244.0.0/24"
	GatewayCIDR   = "10.244.0.1/24"
	ServiceCIDR   = "10.96.0.0/16"
	KubernetesIP  = "10.96.0.1"
	DNSIP         = "10.96.0.10"
	LBCIDR        = "10.245.0.1/24"
	LBFirst       = "10.245.0.10"
	LBLast        = "10.245.0.250"
	APIServerPort = 6443
	KubeletPort   = 10250
	EtcdPort      = 12379
	// RegistryPort is the local registry's, on the node address only (plain HTTP).
	RegistryPort      = 17431
	KubeVersion       = "v1.37.2"
	agentComponent    = "node-agent"
	registryComponent = "registry"
)

// RegistryAddr is where the local registry listens.
func RegistryAddr() string { return net.JoinHostPort(NodeIP.String(), strconv.Itoa(RegistryPort)) }

// MirrorsDir holds the node's mirror mapping (containerd's certs.d layout).
func MirrorsDir(stateDir string) string { return filepath.Join(stateDir, "registry", "certs.d") }

func registryTokenPath(stateDir string) string { return filepath.Join(stateDir, "registry", "token") }

// RegistryBlobsDir keeps the registry's blobs across clusters, so unchanged layers are not
// uploaded again.
func RegistryBlobsDir() string { return filepath.Join(CacheDir(), "registry", "blobs") }

// startRegistry starts the registry process, waits until it answers with its token, and
// writes the mirror mapping.
func startRegistry(ctx context.Context, o Options, cp controlplane.Config) error {
	if err := os.MkdirAll(filepath.Dir(registryTokenPath(o.StateDir)), 0o755); err != nil {
		return err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	token := hex.EncodeToString(tok)
	if err := os.WriteFile(registryTokenPath(o.StateDir), []byte(token), 0o600); err != nil {
		return err
	}
	comp := controlplane.Component{
		Name: registryComponent,
		Spec: procs.Spec{
			Name: registryComponent, Path: o.AgentBinary,
			Args:    []string{"registry", "--state-dir", o.StateDir},
			LogPath: filepath.Join(cp.LogDir(), registryComponent+".log"),
			PidPath: cp.PidFile(registryComponent),
			Dir:     o.StateDir,
		},
		Ready:  registry.Ready(RegistryAddr(), token),
		Listen: controlplane.Socket{Proto: "tcp", Port: RegistryPort},
	}
	if err := controlplane.Start(ctx, comp, 30*time.Second); err != nil {
		return err
	}
	return registry.WriteHosts(MirrorsDir(o.StateDir), RegistryAddr(), registry.Upstreams)
}

// RunRegistry is the body of `localcluster registry`.
func RunRegistry(ctx context.Context, stateDir string) error {
	token, err := os.ReadFile(registryTokenPath(stateDir))
	if err != nil {
		return fmt.Errorf("read registry token: %w", err)
	}
	return registry.Serve(ctx, RegistryAddr(), RegistryBlobsDir(), strings.TrimSpace(string(token)))
}

// NodeIP is the bridge address: node IP, apiserver, kubelet API and DNS.
var NodeIP = net.IPv4(10, 244, 0, 1)

// Options locates the cluster.
type Options struct {
	// StateDir holds everything the cluster writes; see DefaultStateDir.
	StateDir string
	// RepoRoot is the checkout (for hack/kube-binaries.sh and building images).
	RepoRoot string
	// AgentBinary is a program that runs the node agent as `<bin> node` and the pod helper as
	// `<bin> __pod-init`: the localcluster CLI.
	AgentBinary string
	// Out receives progress lines.
	Out io.Writer
}

// DefaultStateDir is $AGW_CLUSTER_DIR or ${XDG_CACHE_HOME:-~/.cache}/agentgateway-go/cluster.
func DefaultStateDir() string {
	if d := os.Getenv("AGW_CLUSTER_DIR"); d != "" {
		return d
	}
	return filepath.Join(CacheDir(), "cluster")
}

// CacheDir is $AGW_CACHE_DIR or ${XDG_CACHE_HOME:-~/.cache}/agentgateway-go (as hack/kube-binaries.sh).
func CacheDir() string {
	if d := os.Getenv("AGW_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "agentgateway-go")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		// No $HOME: a cache beside the other temporary files beats a relative path.
		return filepath.Join(os.TempDir(), "agentgateway-go")
	}
	return filepath.Join(home, ".cache", "agentgateway-go")
}

// FindRepoRoot walks up from dir to the directory whose go.mod declares the project module.
func FindRepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/agentgateway/agentgateway-go\n") {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no agentgateway-go checkout above %s; run from the repository", dir)
		}
	}
}

func (o *Options) defaults() {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// state is written at the start of `up` so `down` can undo a half-finished start.
type state struct {
	BinDir    string          `json:"binDir"`
	Host      netns.HostState `json:"host"`
	StartedAt time.Time       `json:"startedAt"`
}

// KubeconfigPath is the admin kubeconfig of the cluster in stateDir.
func KubeconfigPath(stateDir string) string {
	return certs.PathsIn(filepath.Join(stateDir, "pki")).AdminKubeconfig
}

// mustCIDR parses one of the package's CIDR constants; a bad one is a programming error.
func mustCIDR(s string) (net.IP, *net.IPNet) {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(fmt.Sprintf("localcluster: CIDR constant %q: %v", s, err))
	}
	return ip, n
}

func netConfig() netns.Config {
	_, gw := mustCIDR(GatewayCIDR)
	gw.IP = NodeIP
	lbIP, lb := mustCIDR(LBCIDR)
	lb.IP = lbIP
	var guard []*net.IPNet
	for _, c := range []string{ClusterCIDR, ServiceCIDR, LBCIDR} {
		_, n := mustCIDR(c)
		guard = append(guard, n)
	}
	return netns.Config{Bridge: Bridge, GatewayCIDR: gw, LBCIDR: lb, GuardCIDRs: guard}
}

func cpConfig(stateDir, binDir, coredns string) controlplane.Config {
	return controlplane.Config{
		StateDir: stateDir, BinDir: binDir, CoreDNS: coredns,
		PKI:         certs.PathsIn(filepath.Join(stateDir, "pki")),
		APIServerIP: NodeIP, APIServerPort: APIServerPort,
		ServiceCIDR: ServiceCIDR, ClusterCIDR: ClusterCIDR, ClusterDomain: ClusterDomain,
		DNSIP: net.ParseIP(DNSIP), KubernetesIP: net.ParseIP(KubernetesIP), NodeName: NodeName,
		NodePortCIDRs: NodeIP.String() + "/32",
		EtcdPort:      EtcdPort,
	}
}

func (o Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Out, "localcluster: "+format+"\n", args...) //nolint:errcheck // progress output; nowhere else to report to
}

// Up starts the cluster and returns once the node is Ready. A running healthy cluster is
// reused; leftovers of a killed run are cleaned first. On error or ctx cancellation the
// caller should call Down.
func Up(ctx context.Context, o Options) error {
	o.defaults()
	t0 := time.Now()
	if os.Geteuid() != 0 {
		return errors.New("the local cluster needs root (network namespaces, bridge, iptables); run with sudo")
	}
	if Healthy(ctx, o.StateDir) == nil {
		o.logf("cluster already running (kubeconfig %s)", KubeconfigPath(o.StateDir))
		return nil
	}
	if _, err := os.Stat(filepath.Join(o.StateDir, "state.json")); err == nil {
		o.logf("cleaning up a stale cluster from an earlier run")
		if err := Down(Options{StateDir: o.StateDir, Out: o.Out}); err != nil {
			return fmt.Errorf("clean stale cluster: %w", err)
		}
	} else if nss, links := netns.Leftovers(netConfig()); len(nss)+len(links) > 0 {
		o.logf("removing leftover namespaces/links %v %v", nss, links)
		if err := netns.CleanupAll(netConfig()); err != nil {
			o.logf("removing leftover namespaces: %v", err)
		}
		if err := netns.TeardownHost(netConfig(), netns.HostState{}); err != nil {
			o.logf("removing leftover host network setup: %v", err)
		}
	}
	if o.RepoRoot == "" || o.AgentBinary == "" {
		return errors.New("localcluster.Up needs RepoRoot and AgentBinary")
	}

	step := time.Now()
	o.logf("building or reusing control-plane binaries (first build: ~15 min on 2 cores)...")
	binDir, err := kubeBinaries(ctx, o)
	if err != nil {
		return err
	}
	// CoreDNS is cluster infrastructure and runs as a host process on the node address, from
	// the binary imagepush builds for the CoreDNS image.
	coredns := imagepush.BinaryPath(filepath.Join(CacheDir(), "images"), "/coredns")
	o.logf("binaries ready in %s", since(step))

	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return err
	}
	st := state{BinDir: binDir, StartedAt: time.Now()}
	// Record state before touching the host, so `down` can undo a partial start.
	if err := writeState(o.StateDir, st); err != nil {
		return err
	}
	step = time.Now()
	host, err := netns.SetupHost(netConfig())
	st.Host = host
	if werr := writeState(o.StateDir, st); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("set up bridge %s: %w", Bridge, err)
	}
	cp := cpConfig(o.StateDir, binDir, coredns)
	if _, err := certs.Generate(cp.PKI.Dir, certs.Options{
		APIServerIPs: []net.IP{NodeIP, net.ParseIP(KubernetesIP)}, NodeName: NodeName, NodeIP: NodeIP,
		ServerURL: cp.APIServerURL(), ClusterDomain: ClusterDomain,
	}); err != nil {
		return err
	}
	o.logf("network %s and certificates ready in %s", Bridge, since(step))

	// Images build and push while the control plane starts; the node agent waits for them.
	step = time.Now()
	if err := startRegistry(ctx, o, cp); err != nil {
		return err
	}
	o.logf("registry ready on %s in %s", RegistryAddr(), since(step))
	mirrors, err := registry.LoadMirrors(MirrorsDir(o.StateDir))
	if err != nil {
		return err
	}
	pushed := make(chan error, 1)
	go func() {
		start := time.Now()
		err := imagepush.Push(ctx, imagepush.Options{
			RepoRoot: o.RepoRoot, CacheDir: filepath.Join(CacheDir(), "images"), Mirrors: mirrors, Logf: o.logf,
		})
		if err == nil {
			o.logf("images pushed in %s", since(start))
		}
		pushed <- err
	}()

	for _, c := range controlplane.ControlPlane(cp) {
		if err := ctx.Err(); err != nil {
			return err
		}
		step = time.Now()
		if err := controlplane.Start(ctx, c, 90*time.Second); err != nil {
			return err
		}
		o.logf("%s ready in %s", c.Name, since(step))
	}
	client, err := Client(o.StateDir)
	if err != nil {
		return err
	}
	if err := bootstrapObjects(ctx, client); err != nil {
		return err
	}
	if err := <-pushed; err != nil {
		return fmt.Errorf("push images: %w", err)
	}
	step = time.Now()
	if _, err := procs.Start(procs.Spec{
		Name: agentComponent, Path: o.AgentBinary,
		Args:    []string{"node", "--state-dir", o.StateDir},
		LogPath: filepath.Join(cp.LogDir(), agentComponent+".log"),
		PidPath: cp.PidFile(agentComponent),
		Dir:     o.StateDir,
	}); err != nil {
		return err
	}
	if err := waitNodeReady(ctx, client, cp.PidFile(agentComponent), 60*time.Second); err != nil {
		log := filepath.Join(cp.LogDir(), agentComponent+".log")
		return fmt.Errorf("%w; last lines of %s:\n%s", err, log, procs.Tail(log, 20))
	}
	o.logf("node %s Ready in %s", NodeName, since(step))
	// kube-proxy reports healthy only once its Node exists, so node services start after the agent.
	svcs, err := controlplane.NodeServices(cp)
	if err != nil {
		return err
	}
	for _, c := range svcs {
		step = time.Now()
		if err := controlplane.Start(ctx, c, 60*time.Second); err != nil {
			return err
		}
		o.logf("%s ready in %s", c.Name, since(step))
	}

	o.logf("cluster up in %s; export KUBECONFIG=%s", since(t0), KubeconfigPath(o.StateDir))
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

func kubeBinaries(ctx context.Context, o Options) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(o.RepoRoot, "hack", "kube-binaries.sh"),
		"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
	cmd.Stderr = o.Out
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/kube-binaries.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644)
}

func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

// Client returns a clientset for the cluster in stateDir.
func Client(stateDir string) (*kubernetes.Clientset, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", KubeconfigPath(stateDir))
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100
	return kubernetes.NewForConfig(rc)
}

// bootstrapObjects creates the kube-dns Service, whose endpoint is CoreDNS on the bridge
// address (a host process, so a selector-less Service with a hand-made EndpointSlice).
func bootstrapObjects(ctx context.Context, c kubernetes.Interface) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: DNSIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	if _, err := c.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kube-dns service: %w", err)
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	p53 := int32(53)
	dns, dnsTCP := "dns", "dns-tcp"
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-host", Namespace: "kube-system", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kube-dns",
			discoveryv1.LabelManagedBy:   "localcluster.agentgateway.dev",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{NodeIP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &dns, Port: &p53, Protocol: &udp}, {Name: &dnsTCP, Port: &p53, Protocol: &tcp}},
	}
	if _, err := c.DiscoveryV1().EndpointSlices("kube-system").Create(ctx, es, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kube-dns endpointslice: %w", err)
	}
	return nil
}

func waitNodeReady(ctx context.Context, c kubernetes.Interface, agentPid string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		n, err := c.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		pid, err := procs.ReadPidFile(agentPid)
		if err != nil {
			return err
		}
		if pid == 0 {
			return errors.New("node agent exited before the node became Ready")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready after %s", NodeName, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Healthy returns nil if the cluster in stateDir runs: agent alive, apiserver ready, node Ready.
func Healthy(ctx context.Context, stateDir string) error {
	cp := cpConfig(stateDir, "", "")
	for _, n := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns", registryComponent, agentComponent} {
		pid, err := procs.ReadPidFile(cp.PidFile(n))
		if err != nil {
			return err
		}
		if pid == 0 {
			return fmt.Errorf("%s is not running", n)
		}
	}
	c, err := Client(stateDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := c.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s is not Ready", NodeName)
}

// stopOrder stops consumers before what they consume.
var stopOrder = []string{agentComponent, registryComponent, "coredns", "kube-proxy", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}

// Down stops every process the cluster started (by pid file, never by name), removes pod
// namespaces and links, the bridge, the iptables rules, mount points it created, and the state.
func Down(o Options) error {
	o.defaults()
	st, stErr := readState(o.StateDir)
	cp := cpConfig(o.StateDir, st.BinDir, "")
	var errs []error
	for _, n := range stopOrder[:1] {
		if err := procs.StopPidFile(cp.PidFile(n), 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// Pods outlive a killed agent: stop them through their own pid files.
	for _, pf := range node.PidFiles(filepath.Join(o.StateDir, "pods")) {
		if err := procs.StopPidFile(pf, 2*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range stopOrder[1:] {
		if err := procs.StopPidFile(cp.PidFile(n), 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if st.BinDir != "" {
		// kube-proxy owns its KUBE-* chains; let it remove them.
		if _, err := os.Stat(filepath.Join(st.BinDir, "kube-proxy")); err == nil {
			cmd := exec.Command(filepath.Join(st.BinDir, "kube-proxy"), "--cleanup", "--proxy-mode=iptables")
			if out, err := cmd.CombinedOutput(); err != nil {
				o.logf("kube-proxy --cleanup: %v: %s", err, strings.TrimSpace(string(out)))
			}
		}
	}
	if err := netns.CleanupAll(netConfig()); err != nil {
		errs = append(errs, err)
	}
	if err := netns.TeardownHost(netConfig(), st.Host); err != nil {
		errs = append(errs, err)
	}
	podinit.RemoveCreated(filepath.Join(o.StateDir, "created-dirs"))
	// Keep the component logs of the last cluster for post-mortems (CI uploads them).
	last := LastLogsDir()
	if err := os.RemoveAll(last); err != nil {
		o.logf("removing the previous cluster's logs: %v", err)
	}
	if err := os.Rename(filepath.Join(o.StateDir, "logs"), last); err == nil {
		o.logf("component logs kept in %s", last)
	}
	if err := os.RemoveAll(o.StateDir); err != nil {
		errs = append(errs, err)
	}
	if stErr != nil && !errors.Is(stErr, os.ErrNotExist) {
		errs = append(errs, stErr)
	}
	if len(errs) == 0 {
		o.logf("cluster removed")
	}
	return errors.Join(errs...)
}

// LastLogsDir holds the component logs of the cluster `down` removed last.
func LastLogsDir() string { return filepath.Join(CacheDir(), "last-cluster-logs") }

// Leftovers reports anything of the cluster still on the machine: processes from pid files,
// network namespaces, links, the guard chain. Empty means `down` was complete.
func Leftovers(stateDir string) []string {
	var out []string
	cp := cpConfig(stateDir, "", "")
	for _, n := range stopOrder {
		pid, err := procs.ReadPidFile(cp.PidFile(n))
		if err != nil {
			out = append(out, fmt.Sprintf("process %s (unreadable pid file: %v)", n, err))
		} else if pid != 0 {
			out = append(out, fmt.Sprintf("process %s (pid %d)", n, pid))
		}
	}
	nss, links := netns.Leftovers(netConfig())
	for _, n := range nss {
		out = append(out, "netns "+n)
	}
	for _, l := range links {
		out = append(out, "link "+l)
	}
	// Mounts: `ip netns add` bind-mounts each namespace under /run/netns; pod volume binds live
	// only in the pods' own mount namespaces, but check the host's table for both anyway.
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (strings.HasPrefix(f[4], "/run/netns/"+netns.NamePrefix) || strings.HasPrefix(f[4], stateDir+"/")) {
				out = append(out, "mount "+f[4])
			}
		}
	}
	if netns.GuardInstalled() {
		out = append(out, "iptables chain "+netns.Chain+" or "+netns.LBChain)
	}
	if _, err := os.Stat(stateDir); err == nil {
		out = append(out, "state dir "+stateDir)
	}
	return out
}

// Status describes each component.
func Status(stateDir string) []string {
	cp := cpConfig(stateDir, "", "")
	var out []string
	var total int64
	for i := len(stopOrder) - 1; i >= 0; i-- {
		n := stopOrder[i]
		pid, err := procs.ReadPidFile(cp.PidFile(n))
		if err != nil {
			out = append(out, fmt.Sprintf("%-24s pid file: %v", n, err))
			continue
		}
		if pid == 0 {
			out = append(out, fmt.Sprintf("%-24s stopped", n))
			continue
		}
		rss, err := procs.RSS(pid)
		if err != nil {
			out = append(out, fmt.Sprintf("%-24s running pid %-7d rss unknown: %v", n, pid, err))
			continue
		}
		total += rss
		out = append(out, fmt.Sprintf("%-24s running pid %-7d rss %4d MiB", n, pid, rss>>20))
	}
	out = append(out, fmt.Sprintf("%-24s %d MiB resident", "total", total>>20))
	if err := Healthy(context.Background(), stateDir); err != nil {
		out = append(out, "health: "+err.Error())
	} else {
		out = append(out, "health: ok; kubeconfig "+KubeconfigPath(stateDir))
	}
	return out
}

// IgnoreSignals is for the CLI: Ctrl-C during `up` must reach the CLI only; the children run
// in their own process groups already.
var IgnoreSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM}
