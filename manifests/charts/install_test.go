package charts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
)

var (
	crdGVR          = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deploymentGVR   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gatewayClassGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gatewayclasses"}
)

// helmConfig is the Helm SDK configuration for kubeconfig, storing releases in namespace.
func helmConfig(t *testing.T, kubeconfig, namespace string) *action.Configuration {
	t.Helper()
	cfg, err := Configuration(kubeconfig, namespace)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestInstallUpgradeUninstall installs both charts with the Helm SDK into a real
// kube-apiserver (envtest: no nodes, so pods never run; what is checked is what Helm and the
// apiserver do with the objects): the CRD release first, then the operator release on the
// fresh CRDs; an upgrade changes values; uninstalling the operator release removes its
// objects, uninstalling the CRD release keeps the CRDs.
func TestInstallUpgradeUninstall(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: needs a kube-apiserver")
	}
	env := envtest.Start(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ns = "agentgateway-system"

	crdInst := action.NewInstall(helmConfig(t, env.Kubeconfig, "default"))
	crdInst.ReleaseName = CRDChartName
	crdInst.Namespace = "default"
	// kstatus waits for every CRD to be Established, so the next release finds its kinds.
	crdInst.WaitStrategy = kube.StatusWatcherStrategy
	crdInst.Timeout = 2 * time.Minute
	if _, err := crdInst.Run(loadChart(t, CRDChartName), nil); err != nil {
		t.Fatalf("install %s: %v", CRDChartName, err)
	}

	opCfg := helmConfig(t, env.Kubeconfig, ns)
	inst := action.NewInstall(opCfg)
	inst.ReleaseName = ChartName
	inst.Namespace = ns
	inst.CreateNamespace = true
	// No nodes: the operator's pods never become ready, so wait for nothing but hooks (none).
	inst.WaitStrategy = kube.HookOnlyStrategy
	inst.Timeout = 2 * time.Minute
	if _, err := inst.Run(loadChart(t, ChartName), nil); err != nil {
		t.Fatalf("install %s: %v", ChartName, err)
	}
	dep, err := dyn.Resource(deploymentGVR).Namespace(ns).Get(ctx, "agentgateway-operator", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("operator Deployment: %v", err)
	}
	if r := dep.Object["spec"].(map[string]any)["replicas"]; r != int64(2) {
		t.Errorf("replicas %v, want the default 2", r)
	}
	if _, err := dyn.Resource(gatewayClassGVR).Get(ctx, "agentgateway", metav1.GetOptions{}); err != nil {
		t.Fatalf("GatewayClass: %v", err)
	}

	up := action.NewUpgrade(opCfg)
	up.Namespace = ns
	up.WaitStrategy = kube.HookOnlyStrategy
	up.Timeout = 2 * time.Minute
	if _, err := up.Run(ChartName, loadChart(t, ChartName), map[string]any{"replicas": 1, "extraLabels": map[string]any{"team": "platform"}}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	dep, err = dyn.Resource(deploymentGVR).Namespace(ns).Get(ctx, "agentgateway-operator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := dep.Object["spec"].(map[string]any)["replicas"]; r != int64(1) {
		t.Errorf("after upgrade: replicas %v, want 1", r)
	}
	gc, err := dyn.Resource(gatewayClassGVR).Get(ctx, "agentgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := gc.GetLabels()["team"]; l != "platform" {
		t.Errorf("after upgrade: GatewayClass labels %v lack team=platform", gc.GetLabels())
	}

	un := action.NewUninstall(opCfg)
	un.WaitStrategy = kube.StatusWatcherStrategy
	un.Timeout = 2 * time.Minute
	if _, err := un.Run(ChartName); err != nil {
		t.Fatalf("uninstall %s: %v", ChartName, err)
	}
	if _, err := dyn.Resource(gatewayClassGVR).Get(ctx, "agentgateway", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("GatewayClass after uninstall: err %v, want NotFound", err)
	}
	if _, err := dyn.Resource(deploymentGVR).Namespace(ns).Get(ctx, "agentgateway-operator", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment after uninstall: err %v, want NotFound", err)
	}

	crdUn := action.NewUninstall(helmConfig(t, env.Kubeconfig, "default"))
	crdUn.WaitStrategy = kube.StatusWatcherStrategy
	crdUn.Timeout = 2 * time.Minute
	if _, err := crdUn.Run(CRDChartName); err != nil {
		t.Fatalf("uninstall %s: %v", CRDChartName, err)
	}
	for _, name := range []string{"gatewayclasses.gateway.networking.k8s.io", "agentgatewaypolicies.agentgateway.dev"} {
		if _, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s after uninstalling %s: %v (want it kept)", name, CRDChartName, err)
		}
	}
}

// TestInstallYAMLApplies applies a release's install.yaml with kubectl as the README says: the
// first apply on a fresh apiserver creates the CRDs and fails at the GatewayClass, a wait for
// the CRDs and a second apply complete it.
func TestInstallYAMLApplies(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: needs a kube-apiserver")
	}
	kubectl := envtest.Kubectl(t)
	layout := writeLayout(t, map[string]string{"ghcr.io/agentgateway-go/operator:1.4.0": opDigest, "ghcr.io/agentgateway-go/proxy:1.4.0": proxyDigest})
	out := t.TempDir()
	if _, err := Release(ReleaseOptions{Version: "1.4.0", OCILayout: layout, Repository: "ghcr.io/agentgateway-go", ManifestsDir: testManifests, ChartsDir: freshCharts(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	env := envtest.Start(t)
	run := func(args ...string) ([]byte, error) {
		return exec.Command(kubectl, append([]string{"--kubeconfig", env.Kubeconfig}, args...)...).CombinedOutput()
	}
	install := filepath.Join(out, "install.yaml")
	if out, err := run("apply", "--server-side", "-f", install); err != nil && !strings.Contains(string(out), `no matches for kind "GatewayClass"`) {
		t.Fatalf("first apply: %v\n%s", err, out)
	}
	if out, err := run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); err != nil {
		t.Fatalf("wait for CRDs: %v\n%s", err, out)
	}
	if out, err := run("apply", "--server-side", "-f", install); err != nil {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(gatewayClassGVR).Get(context.Background(), "agentgateway", metav1.GetOptions{}); err != nil {
		t.Fatalf("GatewayClass after install.yaml: %v", err)
	}
	dep, err := dyn.Resource(deploymentGVR).Namespace(BaseNamespace).Get(context.Background(), "agentgateway-operator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]; img != "ghcr.io/agentgateway-go/operator@"+opDigest {
		t.Errorf("operator image %v, want it pinned by digest", img)
	}
}
