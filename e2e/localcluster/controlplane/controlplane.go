// Package controlplane starts the real Kubernetes control plane of the local cluster (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler) and the node-level services that are
// plain host processes (kube-proxy, CoreDNS), each in its own process group with its log and
// pid file under the state directory, and waits for each to be healthy.
package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/certs"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/procs"
)

// Config is everything the components need.
type Config struct {
	StateDir string
	BinDir   string // etcd, kube-apiserver, ... (hack/kube-binaries.sh)
	CoreDNS  string // coredns binary; empty skips DNS
	PKI      certs.Paths

	APIServerIP   net.IP // bridge address: bound, advertised, in the serving cert
	APIServerPort int
	ServiceCIDR   string
	ClusterCIDR   string
	ClusterDomain string
	DNSIP         net.IP // ClusterIP of kube-system/kube-dns
	// KubernetesIP is the ClusterIP of default/kubernetes: CoreDNS is ready once it answers
	// kubernetes.default.svc.<domain> with it, which only a CoreDNS watching this apiserver can.
	KubernetesIP net.IP
	NodeName     string
	// NodePortCIDRs keeps NodePorts off the machine's real interfaces.
	NodePortCIDRs string
	EtcdPort      int
	Verbosity     int
}

// Component is one process and how to tell it is ready.
type Component struct {
	Name string
	Spec procs.Spec
	// Ready asks the component for an answer; it passes only while the process Start launched
	// holds Listen (another program on the same port cannot pass for it).
	Ready  func(context.Context) error
	Listen Socket
}

// Socket is a port a component binds: Proto is "tcp" or "udp".
type Socket struct {
	Proto string
	Port  int
}

// LogDir holds component logs.
func (c Config) LogDir() string { return filepath.Join(c.StateDir, "logs") }

// RunDir holds component pid files.
func (c Config) RunDir() string { return filepath.Join(c.StateDir, "run") }

// PidFile is where the pid of a component is recorded.
func (c Config) PidFile(name string) string { return filepath.Join(c.RunDir(), name+".pid") }

func (c Config) spec(name string, args ...string) procs.Spec {
	return procs.Spec{
		Name:    name,
		Path:    filepath.Join(c.BinDir, name),
		Args:    args,
		LogPath: filepath.Join(c.LogDir(), name+".log"),
		PidPath: c.PidFile(name),
		Dir:     c.StateDir,
	}
}

// APIServerURL is where clients reach the apiserver.
func (c Config) APIServerURL() string {
	return "https://" + net.JoinHostPort(c.APIServerIP.String(), strconv.Itoa(c.APIServerPort))
}

// ControlPlane lists etcd, kube-apiserver, kube-controller-manager and kube-scheduler in start order.
func ControlPlane(c Config) []Component {
	v := strconv.Itoa(c.Verbosity)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPort+1)
	kc := c.PKI.AdminKubeconfig
	etcd := Component{
		Name: "etcd",
		Spec: c.spec("etcd",
			"--name=local", "--data-dir="+filepath.Join(c.StateDir, "etcd"),
			"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=local="+peerURL,
			// A throwaway test cluster: durability costs seconds per write on slow disks.
			"--unsafe-no-fsync=true",
			"--log-level=warn",
		),
		Ready:  httpReady(etcdURL+"/health", nil),
		Listen: Socket{"tcp", c.EtcdPort},
	}
	api := Component{
		Name: "kube-apiserver",
		Spec: c.spec("kube-apiserver",
			"--etcd-servers="+etcdURL,
			"--bind-address="+c.APIServerIP.String(),
			"--advertise-address="+c.APIServerIP.String(),
			"--secure-port="+strconv.Itoa(c.APIServerPort),
			"--tls-cert-file="+c.PKI.APIServerCert, "--tls-private-key-file="+c.PKI.APIServerKey,
			"--client-ca-file="+c.PKI.CACert,
			"--service-account-key-file="+c.PKI.SAPub,
			"--service-account-signing-key-file="+c.PKI.SAKey,
			"--service-account-issuer=https://kubernetes.default.svc."+c.ClusterDomain,
			"--service-cluster-ip-range="+c.ServiceCIDR,
			"--authorization-mode=Node,RBAC",
			"--allow-privileged=true",
			"--kubelet-client-certificate="+c.PKI.KubeletClientCert, "--kubelet-client-key="+c.PKI.KubeletClientKey,
			"--kubelet-certificate-authority="+c.PKI.CACert,
			"--kubelet-preferred-address-types=InternalIP",
			// Front proxy: aggregated APIs authenticate the apiserver with this client cert.
			"--requestheader-client-ca-file="+c.PKI.FrontProxyCACert,
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file="+c.PKI.FrontProxyClientCert, "--proxy-client-key-file="+c.PKI.FrontProxyClientKey,
			// Aggregated API servers run as pods on the bridge: dial their endpoints directly.
			"--enable-aggregator-routing=true",
			"--profiling=false",
			"--v="+v,
		),
		Ready:  httpReady(c.APIServerURL()+"/readyz", &c.PKI),
		Listen: Socket{"tcp", c.APIServerPort},
	}
	kcm := Component{
		Name: "kube-controller-manager",
		Spec: c.spec("kube-controller-manager",
			"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
			// The bridge address: no other program on the machine holds it.
			"--bind-address="+c.APIServerIP.String(), "--secure-port="+strconv.Itoa(ControllerManagerPort),
			"--leader-elect=false",
			"--service-account-private-key-file="+c.PKI.SAKey,
			"--root-ca-file="+c.PKI.CACert,
			"--cluster-signing-cert-file="+c.PKI.CACert, "--cluster-signing-key-file="+c.PKI.CAKey,
			"--cluster-cidr="+c.ClusterCIDR, "--allocate-node-cidrs=false",
			"--service-cluster-ip-range="+c.ServiceCIDR,
			"--use-service-account-credentials=false",
			"--profiling=false",
			"--v="+v,
		),
		Ready:  httpReady(c.url("https", ControllerManagerPort, "/healthz"), nil),
		Listen: Socket{"tcp", ControllerManagerPort},
	}
	sched := Component{
		Name: "kube-scheduler",
		Spec: c.spec("kube-scheduler",
			"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
			"--bind-address="+c.APIServerIP.String(), "--secure-port="+strconv.Itoa(SchedulerPort),
			"--leader-elect=false", "--profiling=false",
			"--v="+v,
		),
		Ready:  httpReady(c.url("https", SchedulerPort, "/healthz"), nil),
		Listen: Socket{"tcp", SchedulerPort},
	}
	return []Component{etcd, api, kcm, sched}
}

// NodeServices lists kube-proxy and CoreDNS (if configured): host processes that serve pods.
func NodeServices(c Config) ([]Component, error) {
	kc := c.PKI.AdminKubeconfig
	proxy := Component{
		Name: "kube-proxy",
		Spec: c.spec("kube-proxy",
			"--kubeconfig="+kc,
			"--proxy-mode=iptables",
			"--hostname-override="+c.NodeName,
			"--bind-address="+c.APIServerIP.String(),
			"--cluster-cidr="+c.ClusterCIDR,
			"--nodeport-addresses="+c.NodePortCIDRs,
			"--metrics-bind-address="+net.JoinHostPort(c.APIServerIP.String(), strconv.Itoa(ProxyMetricsPort)),
			"--healthz-bind-address="+net.JoinHostPort(c.APIServerIP.String(), strconv.Itoa(ProxyHealthPort)),
			// Leave the machine's conntrack sysctls alone.
			"--conntrack-max-per-core=0",
			"--v=1",
		),
		Ready:  httpReady(c.url("http", ProxyHealthPort, "/healthz"), nil),
		Listen: Socket{"tcp", ProxyHealthPort},
	}
	out := []Component{proxy}
	if c.CoreDNS != "" {
		corefile := filepath.Join(c.StateDir, "Corefile")
		// No forward plugin: only cluster names resolve, so DNS never leaves the machine.
		conf := fmt.Sprintf(`%s:53 in-addr.arpa:53 {
    bind %s
    errors
    kubernetes %s in-addr.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa
    }
    cache 5
}
.:53 {
    bind %s
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`, c.ClusterDomain, c.APIServerIP, c.ClusterDomain, kc, c.APIServerIP)
		if err := os.WriteFile(corefile, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("write Corefile: %w", err)
		}
		s := c.spec("coredns", "-conf", corefile)
		s.Path = c.CoreDNS
		// No health plugin: readiness is a cluster name lookup, which also proves CoreDNS
		// reads this apiserver.
		out = append(out, Component{Name: "coredns", Spec: s, Listen: Socket{"udp", 53},
			Ready: dnsReady(net.JoinHostPort(c.APIServerIP.String(), "53"), "kubernetes.default.svc."+c.ClusterDomain+".", c.KubernetesIP)})
	}
	return out, nil
}

// Ports the components bind on the node address besides the apiserver's. They are the
// upstream defaults; on the bridge address no other program on the machine can hold them.
const (
	ControllerManagerPort = 10257
	SchedulerPort         = 10259
	ProxyHealthPort       = 10256
	ProxyMetricsPort      = 10249
)

func (c Config) url(scheme string, port int, path string) string {
	return scheme + "://" + net.JoinHostPort(c.APIServerIP.String(), strconv.Itoa(port)) + path
}

// logTailLines is how much of a failed component's log an error carries.
const logTailLines = 20

// Start launches one component and waits until it is ready: the process it started is alive,
// holds comp.Listen, and answers comp.Ready. A process that exits fails Start with the tail of
// its log.
func Start(ctx context.Context, comp Component, timeout time.Duration) error {
	p, err := procs.Start(comp.Spec)
	if err != nil {
		return err
	}
	return WaitReady(ctx, comp, p.Pid, timeout)
}

// WaitReady waits for the component running as pid; see Start.
func WaitReady(ctx context.Context, comp Component, pid int, timeout time.Duration) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = ready(ctx, comp, pid)
		// Alive after the answer: a component that failed to bind may still have been
		// running when another program answered in its place.
		if !procs.Alive(pid) {
			return fmt.Errorf("%s (pid %d) exited during startup; last lines of %s:\n%s",
				comp.Name, pid, comp.Spec.LogPath, procs.Tail(comp.Spec.LogPath, logTailLines))
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("interrupted while waiting for %s: %w", comp.Name, parent.Err())
			}
			return fmt.Errorf("%s (pid %d) not ready after %s (%v); last lines of %s:\n%s", comp.Name, pid, timeout, last,
				comp.Spec.LogPath, procs.Tail(comp.Spec.LogPath, logTailLines))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ready(ctx context.Context, comp Component, pid int) error {
	if comp.Listen.Port != 0 {
		ok, err := procs.Listens(pid, comp.Listen.Proto, comp.Listen.Port)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("pid %d does not hold %s port %d", pid, comp.Listen.Proto, comp.Listen.Port)
		}
	}
	return comp.Ready(ctx)
}

// dnsReady asks server for name's A record and wants want among the answers.
func dnsReady(server, name string, want net.IP) func(context.Context) error {
	return func(ctx context.Context) error {
		q := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: uint16(time.Now().UnixNano()), RecursionDesired: true},
			Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
		}
		b, err := q.Pack()
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "udp", server)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
			return err
		}
		if _, err := conn.Write(b); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			return fmt.Errorf("dns %s %s: %w", server, name, err)
		}
		var resp dnsmessage.Message
		if err := resp.Unpack(buf[:n]); err != nil {
			return fmt.Errorf("dns %s: %w", server, err)
		}
		if resp.ID != q.ID {
			return fmt.Errorf("dns %s: answer to another query", server)
		}
		for _, a := range resp.Answers {
			if r, ok := a.Body.(*dnsmessage.AResource); ok && net.IP(r.A[:]).Equal(want) {
				return nil
			}
		}
		return fmt.Errorf("dns %s: %s is not %s (rcode %s, %d answers)", server, name, want, resp.RCode, len(resp.Answers))
	}
}

func httpReady(url string, pki *certs.Paths) func(context.Context) error {
	tlsCfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // health probes of our own loopback components
	if pki != nil {
		pool := x509.NewCertPool()
		if b, err := os.ReadFile(pki.CACert); err == nil {
			pool.AppendCertsFromPEM(b)
		}
		tlsCfg = &tls.Config{RootCAs: pool}
		if cert, err := tls.LoadX509KeyPair(pki.AdminCert, pki.AdminKey); err == nil {
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}
