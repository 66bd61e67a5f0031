// Package helm_test installs agentgateway with the Helm charts of manifests/charts on a local
// cluster of its own (clustertest starts one per test binary, without the operator), upgrades
// it under load and uninstalls it.
package helm_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/imagepush"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/registry"
	"github.com/agentgateway/agentgateway-go/manifests/charts"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

const (
	operatorNS = "agentgateway-system"
	repository = "ghcr.io/agentgateway-go"
	demoHost   = "demo.example.com"
)

// helmConfig is the Helm SDK configuration for kubeconfig, storing releases in namespace.
func helmConfig(t *testing.T, kubeconfig, namespace string) *action.Configuration {
	t.Helper()
	cfg, err := charts.Configuration(kubeconfig, namespace)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, err := exec.Command(envtest.Kubectl(t), append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestHelmInstallUpgradeUninstall is issue 19: helm install of both charts on a fresh
// cluster, the demo Gateway answers, helm upgrade to images of a changed build rolls the
// operator and through it the demo proxy while a load generator sends requests (none may
// fail), and helm uninstall leaves no agentgateway object but the CRDs (kept by design).
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	c := clustertest.Require(t)
	start := time.Now()
	ctx := t.Context()
	root := envtest.RepoRoot()
	if _, err := c.Client.AppsV1().Deployments(operatorNS).Get(ctx, "agentgateway-operator", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the cluster already runs an operator (err %v): Helm cannot adopt objects it did not create; run on a fresh cluster (AGW_E2E=1)", err)
	}
	loadChart := func(name string) *chart.Chart {
		ch, err := charts.Load(filepath.Join(root, "manifests", "charts", name))
		if err != nil {
			t.Fatalf("load chart %s: %v", name, err)
		}
		return ch
	}

	// Install: CRDs first (kstatus waits until they are Established), then the operator
	// from the images the cluster's registry serves; the wait covers its Deployment's rollout.
	crdCfg := helmConfig(t, c.Kubeconfig, "default")
	crdInst := action.NewInstall(crdCfg)
	crdInst.ReleaseName, crdInst.Namespace = charts.CRDChartName, "default"
	crdInst.WaitStrategy, crdInst.Timeout = kube.StatusWatcherStrategy, 2*time.Minute
	if _, err := crdInst.Run(loadChart(charts.CRDChartName), nil); err != nil {
		t.Fatalf("helm install %s: %v", charts.CRDChartName, err)
	}
	opCfg := helmConfig(t, c.Kubeconfig, operatorNS)
	inst := action.NewInstall(opCfg)
	inst.ReleaseName, inst.Namespace, inst.CreateNamespace = charts.ChartName, operatorNS, true
	inst.WaitStrategy, inst.Timeout = kube.StatusWatcherStrategy, 5*time.Minute
	if _, err := inst.Run(loadChart(charts.ChartName), imageValues("dev")); err != nil {
		t.Fatalf("helm install %s: %v", charts.ChartName, err)
	}
	t.Logf("both releases installed and the operator Available after %s", time.Since(start).Round(time.Second))

	kubectl(t, c.Kubeconfig, "apply", "--server-side", "-f", filepath.Join(root, "manifests", "demo", "demo.yaml"))
	kubectl(t, c.Kubeconfig, "-n", "demo", "wait", "--for=condition=Programmed", "gateway/demo", "--timeout=300s")
	addr := strings.TrimSpace(kubectl(t, c.Kubeconfig, "-n", "demo", "get", "gateway", "demo", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	hostport := net.JoinHostPort(addr, "80")
	routeCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := clustertest.WaitRoutes(routeCtx, hostport); err != nil {
		t.Fatal(err)
	}
	if code, err := get(http.DefaultClient, hostport); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s through %s: status %d, err %v; want 200 from the echo backend", demoHost, hostport, code, err)
	}
	before := proxyPods(t, c)
	t.Logf("demo Gateway %s answers 200 after %s (proxy pods %v)", addr, time.Since(start).Round(time.Second), before)

	// The changed tree: both images again, as version dev2 (new digests).
	stateDir := c.StateDir
	if stateDir == "" {
		stateDir = localcluster.DefaultStateDir()
	}
	mirrors, err := registry.LoadMirrors(localcluster.MirrorsDir(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	po := imagepush.Options{RepoRoot: root, CacheDir: filepath.Join(localcluster.CacheDir(), "images"), Mirrors: mirrors}
	digests := map[string]string{}
	for _, img := range []string{"operator", "proxy"} {
		d, err := imagepush.PushVersion(ctx, po, "/"+img, "dev2", repository+"/"+img+":dev2")
		if err != nil {
			t.Fatalf("push %s:dev2: %v", img, err)
		}
		digests[img] = d
	}

	// Upgrade under load.
	lg := startLoad(hostport)
	up := action.NewUpgrade(opCfg)
	up.Namespace = operatorNS
	up.WaitStrategy, up.Timeout = kube.StatusWatcherStrategy, 5*time.Minute
	upStart := time.Now()
	if _, err := up.Run(charts.ChartName, loadChart(charts.ChartName), imageValues("dev2")); err != nil {
		lg.stop()
		t.Fatalf("helm upgrade: %v", err)
	}
	opPods, err := c.Client.CoreV1().Pods(operatorNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=agentgateway-operator"})
	if err != nil {
		lg.stop()
		t.Fatal(err)
	}
	for _, p := range opPods.Items {
		if p.DeletionTimestamp == nil && !strings.HasSuffix(p.Spec.Containers[0].Image, ":dev2") {
			t.Errorf("operator pod %s runs %s after the upgrade", p.Name, p.Spec.Containers[0].Image)
		}
	}
	// The new operator gives the proxy Deployment the dev2 image; wait until only new
	// proxy pods remain, all ready.
	var after []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		after, err = rolledProxyPods(ctx, c, before)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			lg.stop()
			t.Logf("demo namespace:\n%s", kubectlOut(c.Kubeconfig, "-n", "demo", "get", "deploy,rs,pods,events", "-o", "wide"))
			t.Logf("operator pods:\n%s", kubectlOut(c.Kubeconfig, "-n", operatorNS, "get", "pods,lease", "-o", "wide"))
			t.Logf("operator logs:\n%s", kubectlOut(c.Kubeconfig, "-n", operatorNS, "logs", "-l", "app.kubernetes.io/name=agentgateway-operator", "--tail=40", "--prefix"))
			t.Fatalf("the demo proxy did not roll to the dev2 image: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Keep the load on the new pods for a while, counted in requests, then stop.
	lg.waitOK(lg.ok.Load() + 200)
	lg.stop()
	t.Logf("upgrade rolled the operator and the proxy (%v -> %v) in %s; %d requests, %d failed",
		before, after, time.Since(upStart).Round(time.Second), lg.ok.Load()+lg.failed.Load(), lg.failed.Load())
	if n := lg.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during the upgrade; first: %v", n, n+lg.ok.Load(), lg.errors())
	}
	if lg.ok.Load() < 200 {
		t.Errorf("only %d requests succeeded: the load did not cover the rollout", lg.ok.Load())
	}

	// Uninstall. The demo namespace goes first: its Gateway owns the proxy objects, which
	// the operator (gone after uninstall) would otherwise never clean up.
	kubectl(t, c.Kubeconfig, "delete", "namespace", "demo", "--wait=true", "--timeout=180s")
	un := action.NewUninstall(opCfg)
	un.WaitStrategy, un.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	if _, err := un.Run(charts.ChartName); err != nil {
		t.Fatalf("helm uninstall %s: %v", charts.ChartName, err)
	}
	crdUn := action.NewUninstall(crdCfg)
	crdUn.WaitStrategy, crdUn.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	if _, err := crdUn.Run(charts.CRDChartName); err != nil {
		t.Fatalf("helm uninstall %s: %v", charts.CRDChartName, err)
	}
	// The chart README's last uninstall step: Helm never deletes the namespace it created,
	// and it holds what the operator wrote at run time (the leader-election Lease).
	kubectl(t, c.Kubeconfig, "delete", "namespace", operatorNS, "--wait=true", "--timeout=180s")
	if left := agentgatewayObjects(t, c); len(left) > 0 {
		t.Errorf("after helm uninstall these agentgateway objects remain:\n  %s", strings.Join(left, "\n  "))
	}
	for _, crd := range []string{"gateways.gateway.networking.k8s.io", "agentgatewaypolicies.agentgateway.dev"} {
		if _, err := dynamic.NewForConfigOrDie(c.Config).Resource(crdGVR).Get(ctx, crd, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s after uninstall: %v (the CRD chart keeps its CRDs)", crd, err)
		}
	}
	t.Logf("TestHelmInstallUpgradeUninstall took %s", time.Since(start).Round(time.Second))
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// kubectlOut is kubectl's output, or its error, for diagnostics of a failure.
func kubectlOut(kubeconfig string, args ...string) string {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imageValues points both images at tag in the repository the local registry mirrors.
func imageValues(tag string) map[string]any {
	return map[string]any{"image": map[string]any{"repository": repository, "tag": tag}}
}

func get(client *http.Client, hostport string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+hostport+"/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = demoHost
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below; close only releases
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

// proxyPods names the demo Gateway's proxy pods with their image IDs.
func proxyPods(t *testing.T, c *clustertest.Cluster) []string {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods("demo").List(t.Context(), metav1.ListOptions{LabelSelector: "gateway.networking.k8s.io/gateway-name=demo"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name+"="+imageID(p))
	}
	return out
}

func imageID(p corev1.Pod) string {
	if len(p.Status.ContainerStatuses) == 0 {
		return ""
	}
	return p.Status.ContainerStatuses[0].ImageID
}

// rolledProxyPods returns the proxy pods once every one runs the dev2 image, is Ready, has
// another image ID than every pod in before, and no old pod is left (terminating included).
func rolledProxyPods(ctx context.Context, c *clustertest.Cluster, before []string) ([]string, error) {
	pods, err := c.Client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{LabelSelector: "gateway.networking.k8s.io/gateway-name=demo"})
	if err != nil {
		return nil, err
	}
	if len(pods.Items) == 0 {
		return nil, fmt.Errorf("no proxy pods")
	}
	var out []string
	for _, p := range pods.Items {
		id := imageID(p)
		for _, b := range before {
			if strings.HasSuffix(b, "="+id) {
				return nil, fmt.Errorf("pod %s still runs the old image %s", p.Name, id)
			}
		}
		if p.DeletionTimestamp != nil {
			return nil, fmt.Errorf("pod %s is terminating", p.Name)
		}
		if !strings.HasSuffix(p.Spec.Containers[0].Image, ":dev2") {
			return nil, fmt.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
		ready := false
		for _, cond := range p.Status.Conditions {
			ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
		}
		if !ready {
			return nil, fmt.Errorf("pod %s is not ready", p.Name)
		}
		out = append(out, p.Name+"="+id)
	}
	return out, nil
}

// load sends GETs to the Gateway from a few workers over keep-alive connections, paced, until
// stopped or a bound (count or time) is reached.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	done       <-chan struct{}
}

const (
	loadWorkers  = 4
	loadMax      = 200_000
	loadMaxTime  = 6 * time.Minute
	loadInterval = 10 * time.Millisecond // per worker: at most 400 requests/s in all
)

func startLoad(hostport string) *load {
	ctx, cancel := context.WithTimeout(context.Background(), loadMaxTime)
	l := &load{cancel: cancel, done: ctx.Done()}
	tr := &http.Transport{MaxIdleConnsPerHost: loadWorkers, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range loadWorkers {
		l.wg.Go(func() {
			tick := time.NewTicker(loadInterval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if l.ok.Load()+l.failed.Load() >= loadMax {
					return
				}
				code, err := get(client, hostport)
				switch {
				case err != nil:
					l.fail(err.Error())
				case code < 200 || code > 299:
					l.fail(fmt.Sprintf("status %d", code))
				default:
					l.ok.Add(1)
				}
			}
		})
	}
	return l
}

func (l *load) fail(what string) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, time.Now().UTC().Format("15:04:05.000")+" "+what)
	}
}

func (l *load) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// waitOK returns once n requests succeeded or the load ended.
func (l *load) waitOK(n int64) {
	for l.ok.Load() < n {
		select {
		case <-l.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// agentgatewayObjects lists every object left that belongs to agentgateway: named for it, in
// the operator's namespace, or of an agentgateway.dev kind. The CRDs are kept by design, and
// so is the APIService kube-apiserver manages for a CRD group (label
// kube-aggregator.kubernetes.io/automanaged).
func agentgatewayObjects(t *testing.T, c *clustertest.Cluster) []string {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") ||
				r.Name == "customresourcedefinitions" || r.Name == "events" {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list %s: %v", r.Name, err)
			}
			for _, o := range items.Items {
				name, ns := o.GetName(), o.GetNamespace()
				if _, auto := o.GetLabels()["kube-aggregator.kubernetes.io/automanaged"]; auto && r.Name == "apiservices" {
					continue
				}
				if ns == operatorNS || name == operatorNS || strings.Contains(name, "agentgateway") || gv.Group == "agentgateway.dev" {
					left = append(left, fmt.Sprintf("%s %s/%s", r.Name, ns, name))
				}
			}
		}
	}
	return left
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}
