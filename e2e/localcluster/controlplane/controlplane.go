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
	NodeName      string
	// NodePortCIDRs keeps NodePorts off the machine's real interfaces.
	NodePortCIDRs string
	EtcdPort      int
	Verbosity     int
}

// Component is one process and how to tell it is ready.
type Component struct {
	Name  string
	Spec  procs.Spec
	Ready func(context.Context) error
}

// LogDir and RunDir hold component logs and pid files.
func (c Config) LogDir() string { return filepath.Join(c.StateDir, "logs") }
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
		Ready: httpReady(etcdURL+"/health", nil),
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
		Ready: httpReady(c.APIServerURL()+"/readyz", &c.PKI),
	}
	kcm := Component{
		Name: "kube-controller-manager",
		Spec: c.spec("kube-controller-manager",
			"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
			"--bind-address=127.0.0.1", "--secure-port=10257",
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
		Ready: httpReady("https://127.0.0.1:10257/healthz", nil),
	}
	sched := Component{
		Name: "kube-scheduler",
		Spec: c.spec("kube-scheduler",
			"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
			"--bind-address=127.0.0.1", "--secure-port=10259",
			"--leader-elect=false", "--profiling=false",
			"--v="+v,
		),
		Ready: httpReady("https://127.0.0.1:10259/healthz", nil),
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
			"--metrics-bind-address=127.0.0.1:10249",
			"--healthz-bind-address=127.0.0.1:10256",
			// Leave the machine's conntrack sysctls alone.
			"--conntrack-max-per-core=0",
			"--v=1",
		),
		Ready: httpReady("http://127.0.0.1:10256/healthz", nil),
	}
	out := []Component{proxy}
	if c.CoreDNS != "" {
		corefile := filepath.Join(c.StateDir, "Corefile")
		// No forward plugin: only cluster names resolve, so DNS never leaves the machine.
		conf := fmt.Sprintf(`%s:53 in-addr.arpa:53 {
    bind %s
    errors
    health 127.0.0.1:18080
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
		out = append(out, Component{Name: "coredns", Spec: s, Ready: httpReady("http://127.0.0.1:18080/health", nil)})
	}
	return out, nil
}

// Start launches one component and waits until it is ready or exits.
func Start(ctx context.Context, comp Component, timeout time.Duration) error {
	p, err := procs.Start(comp.Spec)
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = comp.Ready(ctx); last == nil {
			return nil
		}
		if !procs.Alive(p.Pid) {
			return fmt.Errorf("%s exited during startup; see %s", comp.Name, comp.Spec.LogPath)
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("interrupted while waiting for %s: %w", comp.Name, parent.Err())
			}
			return fmt.Errorf("%s not ready after %s (%v); see %s", comp.Name, timeout, last, comp.Spec.LogPath)
		case <-time.After(100 * time.Millisecond):
		}
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
