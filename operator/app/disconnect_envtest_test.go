package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/generated/clientset/versioned"
	"github.com/agentgateway/agentgateway-go/operator/apiserver"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/publish"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

// TestProxyStreamDisconnected runs the operator with its views API behind a real
// kube-apiserver: of two Running proxy pods of a Gateway, the one holding a config stream is
// listed connected in proxystatuses, the one without shows up disconnected (with since
// when) once the grace period has passed, and a ConfigStreamDisconnected Warning Event on
// the Gateway names it. When it connects, proxystatuses say so.
func TestProxyStreamDisconnected(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.StartWith(t, envtest.Options{
		Aggregation: true,
		CRDPaths:    []string{filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "gateway-api")},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	views := startViews(t, ctx, env)
	const grace = 2 * time.Second
	xdsAddr := startOperator(t, ctx, cancel, env, func(c *Config) {
		c.DisconnectGrace = grace
		c.Hooks.AggregatedAPI = func(_ manager.Manager, p Pipeline, _ string) (func(*translate.Result), error) {
			publishProxies := ProxyViews(views, "replica-0", p)
			p.ConfigServer.AddChangeListener(func(types.NamespacedName) { publishProxies() })
			return func(res *translate.Result) {
				views.PublishEffectiveConfigs(publish.EffectiveConfigs(res))
				publishProxies()
			}, nil
		}
	})
	c := newClient(t, env)
	const ns = "apps"
	createWebGateway(t, ctx, c, ns)
	caFile := proxyCAFile(t, ctx, c, ns)

	// Two Running proxy pods as the Deployment makes them (no kubelet here: the test sets
	// their status).
	for _, pod := range []string{"web-connected", "web-lost"} {
		createRunningProxyPod(t, ctx, c, ns, pod)
	}
	connect := func(pod string) <-chan struct{} {
		got := make(chan struct{})
		pc := &configstream.Client{
			Address: xdsAddr, CAFile: caFile,
			Node:  configstream.Node{Pod: pod, Namespace: ns, Gateway: "web", BuildVersion: "test"},
			Token: func() (string, error) { return "token-for-web", nil },
		}
		done := make(chan error, 1)
		go func() {
			first := true
			done <- pc.Run(ctx, func(*config.Config) error {
				if first {
					first = false
					close(got)
				}
				return nil
			})
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("proxy %s: %v", pod, err)
			}
		})
		return got
	}
	<-connect("web-connected")

	vc, err := versioned.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	statuses := func() map[string]viewsv1a1.ProxyStatus {
		list, err := vc.ViewsV1alpha1().ProxyStatuses(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list proxystatuses: %v", err)
		}
		out := map[string]viewsv1a1.ProxyStatus{}
		for _, ps := range list.Items {
			out[ps.Name] = ps
		}
		return out
	}
	waitFor(t, "proxystatuses: web-lost disconnected, web-connected connected", func() (bool, string) {
		st := statuses()
		lost, conn := st["web-lost"], st["web-connected"]
		return !lost.Connected && lost.DisconnectedSince != nil && lost.Gateway == "web" && conn.Connected && conn.DisconnectedSince == nil,
			fmt.Sprintf("%+v", st)
	})
	lost := statuses()["web-lost"]
	if age := time.Since(lost.DisconnectedSince.Time); age < grace || age > time.Minute {
		t.Errorf("web-lost disconnected since %s ago, want since its pod started (more than the %s grace)", age, grace)
	}
	out, err := kubectl(t, env, "get", "proxystatuses", "-n", ns)
	if err != nil || !strings.Contains(out, "DISCONNECTED") || !strings.Contains(out, "web-lost") {
		t.Errorf("kubectl get proxystatuses: %v\n%s", err, out)
	}
	t.Logf("kubectl get proxystatuses -n %s\n%s", ns, out)

	waitFor(t, "ConfigStreamDisconnected Event on the Gateway naming web-lost", func() (bool, string) {
		var evs eventsv1.EventList
		must(t, c.List(ctx, &evs, client.InNamespace(ns)))
		for _, e := range evs.Items {
			if e.Reason == configserver.DisconnectedReason && e.Regarding.Kind == "Gateway" && e.Regarding.Name == "web" {
				if strings.Contains(e.Note, "web-connected") {
					t.Fatalf("an Event for the connected proxy: %s", e.Note)
				}
				return e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, "web-lost"), e.Note
			}
		}
		return false, fmt.Sprintf("%d events, none %s", len(evs.Items), configserver.DisconnectedReason)
	})

	// The lost proxy connects: it is listed connected.
	<-connect("web-lost")
	waitFor(t, "proxystatuses: web-lost connected", func() (bool, string) {
		st := statuses()["web-lost"]
		return st.Connected && st.DisconnectedSince == nil, fmt.Sprintf("%+v", st)
	})
}

// createRunningProxyPod creates a pod of Gateway web's proxy Deployment in ns and marks it
// Running with its proxy container started now.
func createRunningProxyPod(t *testing.T, ctx context.Context, c client.Client, ns, name string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			deployer.NameLabel: deployer.ProxyLabelValue, deployer.GatewayNameLabel: "web",
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName:           deployer.ProxyName("web"),
			AutomountServiceAccountToken: ptr.To(false),
			NodeName:                     "node-1",
			Containers:                   []corev1.Container{{Name: deployer.ProxyContainer, Image: "proxy:test"}},
		},
	}
	must(t, c.Create(ctx, pod))
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		StartTime: &now,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: deployer.ProxyContainer, Image: "proxy:test", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	must(t, c.Status().Update(ctx, pod))
}

// startViews serves views (the aggregated API) in the test process, registered with env's
// kube-apiserver as views.agentgateway.dev, until ctx ends.
func startViews(t *testing.T, ctx context.Context, env *envtest.Env) *apiserver.Views {
	t.Helper()
	views := apiserver.NewViews()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := apiserver.NewOptions()
	opts.SecureServing.Listener = ln
	opts.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	certDir := t.TempDir()
	opts.SecureServing.ServerCert.CertDirectory = certDir
	opts.CertDNSNames = []string{"agentgateway-api.agentgateway-system.svc"}
	opts.Kubeconfig = env.Kubeconfig
	cfg, err := opts.Config(views)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cfg.New()
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("views server: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("views server did not stop within 30s")
		}
	})
	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	envtest.RegisterAPIService(t, env, envtest.APIServiceTarget{
		Group: viewsv1a1.GroupName, Version: viewsv1a1.SchemeGroupVersion.Version,
		Port: int32(ln.Addr().(*net.TCPAddr).Port), CABundle: ca,
		ServiceName: "agentgateway-api", ServiceNamespace: "agentgateway-system",
	})
	return views
}

// kubectl runs kubectl against env and returns its output.
func kubectl(t *testing.T, env *envtest.Env, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := execOutput(ctx, envtest.Kubectl(t), append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	return out, err
}

func execOutput(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
