package deployer

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml")

// A golden input is YAML documents: the Gateway, then optionally AgentgatewayParameters
// named "class" (the class's) and/or "gateway" (the Gateway's).
func TestRenderGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	opts := Options{ProxyImage: "ghcr.io/agentgateway-go/proxy:dev", XDSAddress: "agentgateway-xds.agentgateway-system.svc:9977", XDSCABundle: testCA}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var input Input
			for _, doc := range strings.Split(string(data), "\n---\n") {
				var probe struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
					t.Fatal(err)
				}
				switch probe.Kind {
				case "Gateway":
					input.Gateway = &gwv1.Gateway{}
					mustUnmarshal(t, doc, input.Gateway)
				case "AgentgatewayParameters":
					p := &agwv1a1.AgentgatewayParameters{}
					mustUnmarshal(t, doc, p)
					if p.Name == "class" {
						input.ClassParams = &p.Spec
					} else {
						input.GatewayParams = &p.Spec
					}
				default:
					t.Fatalf("unexpected kind %q", probe.Kind)
				}
			}
			input.Ports = PortsFromListeners(input.Gateway)
			objs, err := Render(opts, input)
			var got bytes.Buffer
			if err != nil {
				got.WriteString("error: " + err.Error() + "\n")
			}
			for i, o := range objs {
				if i > 0 {
					got.WriteString("---\n")
				}
				b, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
			}
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(want, got.Bytes()) {
				t.Errorf("%s differs from the rendering (go test -update to accept):\n%s", out, got.String())
			}
		})
	}
}

func mustUnmarshal(t *testing.T, doc string, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		t.Fatal(err)
	}
}

// TestRenderIsStable renders the same input twice: both renderings must succeed and be
// identical, hashes included, or every reconcile would rewrite the workload.
func TestRenderIsStable(t *testing.T) {
	in := testInput(nil)
	in.GatewayParams = &agwv1a1.AgentgatewayParametersSpec{
		Env:                     []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
		Service:                 &agwv1a1.ServiceSettings{Annotations: map[string]string{"a": "1", "b": "2", "c": "3"}},
		HorizontalPodAutoscaler: &agwv1a1.AutoscalerSettings{MaxReplicas: 3},
	}
	a := mustRender(t, in)
	b := mustRender(t, in)
	if len(a) != len(b) {
		t.Fatalf("renderings have %d and %d objects", len(a), len(b))
	}
	for i := range a {
		ya, yb := mustYAML(t, a[i]), mustYAML(t, b[i])
		if ya != yb {
			t.Fatalf("%T %s renders differently:\n%s\n---\n%s", a[i], a[i].GetName(), ya, yb)
		}
		if a[i].GetAnnotations()[HashAnnotation] == "" {
			t.Fatalf("%T %s has no %s", a[i], a[i].GetName(), HashAnnotation)
		}
	}
}

// TestRenderHardensProxyPod checks the security settings of the proxy pod one by one, so a
// golden file accepted with -update cannot drop one silently.
func TestRenderHardensProxyPod(t *testing.T) {
	objs := mustRender(t, testInput(nil))
	dep := find[*appsv1.Deployment](t, objs)
	pod := dep.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || ptr.Deref(psc.RunAsUser, 0) != 65532 ||
		ptr.Deref(psc.RunAsGroup, 0) != 65532 || ptr.Deref(psc.FSGroup, 0) != 65532 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, user, group and fsGroup 65532", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want seccompProfile RuntimeDefault", psc)
	}
	if psc == nil || len(psc.Sysctls) != 1 || psc.Sysctls[0] != (corev1.Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}) {
		t.Errorf("pod sysctls %+v: want net.ipv4.ip_unprivileged_port_start=0 (listeners below 1024)", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) ||
		sc.Capabilities == nil || len(sc.Capabilities.Add) != 0 || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v: want read-only root, no privilege escalation, drop ALL", sc)
	}
	for name, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port != intstr.FromString("health") {
			t.Errorf("%s probe %+v: want an HTTP probe on the health port", name, probe)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/ready" {
		t.Errorf("readiness probe path %q, want /ready", c.ReadinessProbe.HTTPGet.Path)
	}
	// The kubelet probes the pod IP and Prometheus scrapes it: the health and metrics
	// servers listen on all addresses. The admin server (config dump, pprof) keeps its
	// loopback default and is no container port.
	for _, want := range []string{
		fmt.Sprintf("--health-addr=0.0.0.0:%d", HealthPort), fmt.Sprintf("--metrics-addr=0.0.0.0:%d", MetricsPort),
		"--xds-ca-file=/var/run/agentgateway/xds-ca/ca.crt",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v: want %s", c.Args, want)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--admin-addr") {
			t.Errorf("args %v: the admin server must keep its loopback default", c.Args)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		if p.ContainerPort == 15000 {
			t.Errorf("container port %+v: the admin port is loopback only", p)
		}
	}
	if ports["health"] != HealthPort || ports["metrics"] != MetricsPort {
		t.Errorf("container ports %v: want health %d and metrics %d", ports, HealthPort, MetricsPort)
	}
	// The CA the proxy verifies the config server with comes from the rendered ConfigMap.
	cm := find[*corev1.ConfigMap](t, objs)
	if cm.Name != XDSCAName("gw") || cm.Data[XDSCAKey] != testCA {
		t.Errorf("CA ConfigMap %s %v: want %s with the CA", cm.Name, cm.Data, XDSCAName("gw"))
	}
	mounted := false
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("volumes %+v: the CA ConfigMap is not mounted", pod.Volumes)
	}
	if c.Resources.Requests.Cpu().String() != "100m" || c.Resources.Requests.Memory().String() != "128Mi" {
		t.Errorf("default requests %v: want cpu 100m, memory 128Mi", c.Resources.Requests)
	}
	keys := map[string]bool{}
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.WhenUnsatisfiable != corev1.ScheduleAnyway || tsc.LabelSelector == nil || tsc.LabelSelector.MatchLabels[GatewayNameLabel] != "gw" {
			t.Errorf("topology spread %+v: want ScheduleAnyway over this Gateway's pods", tsc)
		}
		keys[tsc.TopologyKey] = true
	}
	if !keys["topology.kubernetes.io/zone"] || !keys["kubernetes.io/hostname"] {
		t.Errorf("topology spread keys %v: want zone and hostname", keys)
	}

	// Resources from the parameters replace the defaults.
	custom := testInput(nil)
	custom.GatewayParams = &agwv1a1.AgentgatewayParametersSpec{Resources: &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
	}}
	got := find[*appsv1.Deployment](t, mustRender(t, custom)).Spec.Template.Spec.Containers[0].Resources
	if got.Requests.Cpu().String() != "2" || !got.Requests.Memory().IsZero() {
		t.Errorf("requests %v: want the parameters' cpu 2 and no memory request", got.Requests)
	}
}

// TestRenderDisruptionBudgetAndAutoscaler covers when the budget and the autoscaler exist,
// what they say, and that the Deployment leaves its replica count to the autoscaler.
func TestRenderDisruptionBudgetAndAutoscaler(t *testing.T) {
	hpa := func(lo, hi int32) *agwv1a1.AutoscalerSettings {
		return &agwv1a1.AutoscalerSettings{MinReplicas: ptr.To(lo), MaxReplicas: hi}
	}
	pct := intstr.FromString("50%")
	cases := []struct {
		name          string
		class, gw     *agwv1a1.AgentgatewayParametersSpec
		wantReplicas  *int32
		wantPDB       *intstr.IntOrString // maxUnavailable, or minAvailable when wantMin
		wantMin       bool
		wantHPA       *[2]int32
		wantTargetCPU int32
	}{
		{name: "defaults: one replica, no budget", wantReplicas: nil},
		{name: "one replica", gw: &agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](1)}, wantReplicas: ptr.To[int32](1)},
		{name: "three replicas get maxUnavailable 1", gw: &agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](3)},
			wantReplicas: ptr.To[int32](3), wantPDB: ptr.To(intstr.FromInt32(1))},
		{name: "explicit budget on one replica", gw: &agwv1a1.AgentgatewayParametersSpec{
			PodDisruptionBudget: &agwv1a1.PodDisruptionBudgetSettings{MinAvailable: &pct},
		}, wantPDB: &pct, wantMin: true},
		{name: "gateway budget replaces class budget", class: &agwv1a1.AgentgatewayParametersSpec{
			Replicas: ptr.To[int32](4), PodDisruptionBudget: &agwv1a1.PodDisruptionBudgetSettings{MaxUnavailable: ptr.To(intstr.FromInt32(2))},
		}, gw: &agwv1a1.AgentgatewayParametersSpec{
			PodDisruptionBudget: &agwv1a1.PodDisruptionBudgetSettings{MinAvailable: ptr.To(intstr.FromInt32(3))},
		}, wantReplicas: ptr.To[int32](4), wantPDB: ptr.To(intstr.FromInt32(3)), wantMin: true},
		{name: "autoscaler omits replicas", gw: &agwv1a1.AgentgatewayParametersSpec{HorizontalPodAutoscaler: hpa(2, 5)},
			wantPDB: ptr.To(intstr.FromInt32(1)), wantHPA: &[2]int32{2, 5}, wantTargetCPU: 80},
		{name: "autoscaler up to one replica has no budget", gw: &agwv1a1.AgentgatewayParametersSpec{
			HorizontalPodAutoscaler: &agwv1a1.AutoscalerSettings{MaxReplicas: 1, TargetCPUUtilizationPercentage: ptr.To[int32](50)},
		}, wantHPA: &[2]int32{1, 1}, wantTargetCPU: 50},
		{name: "gateway replicas replace class autoscaler", class: &agwv1a1.AgentgatewayParametersSpec{HorizontalPodAutoscaler: hpa(2, 5)},
			gw: &agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](2)}, wantReplicas: ptr.To[int32](2), wantPDB: ptr.To(intstr.FromInt32(1))},
		{name: "gateway autoscaler replaces class replicas", class: &agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](1)},
			gw: &agwv1a1.AgentgatewayParametersSpec{HorizontalPodAutoscaler: hpa(3, 9)}, wantPDB: ptr.To(intstr.FromInt32(1)), wantHPA: &[2]int32{3, 9}, wantTargetCPU: 80},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(nil)
			in.ClassParams, in.GatewayParams = tc.class, tc.gw
			objs := mustRender(t, in)
			dep := find[*appsv1.Deployment](t, objs)
			if !equalPtr(dep.Spec.Replicas, tc.wantReplicas) {
				t.Errorf("replicas = %v, want %v", ptrString(dep.Spec.Replicas), ptrString(tc.wantReplicas))
			}
			pdb := findOpt[*policyv1.PodDisruptionBudget](objs)
			switch {
			case tc.wantPDB == nil && pdb != nil:
				t.Errorf("unexpected PodDisruptionBudget %+v", pdb.Spec)
			case tc.wantPDB != nil && pdb == nil:
				t.Errorf("no PodDisruptionBudget")
			case pdb != nil:
				got, other := pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable
				if tc.wantMin {
					got, other = other, got
				}
				if got == nil || *got != *tc.wantPDB || other != nil {
					t.Errorf("budget %+v, want %v (minAvailable: %v)", pdb.Spec, tc.wantPDB, tc.wantMin)
				}
				if pdb.Spec.Selector == nil || !maps.Equal(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
					t.Errorf("budget selector %+v, want the Deployment's %+v", pdb.Spec.Selector, dep.Spec.Selector)
				}
				if ptr.Deref(pdb.Spec.UnhealthyPodEvictionPolicy, "") != policyv1.AlwaysAllow {
					t.Errorf("unhealthyPodEvictionPolicy %v, want AlwaysAllow", pdb.Spec.UnhealthyPodEvictionPolicy)
				}
			}
			h := findOpt[*autoscalingv2.HorizontalPodAutoscaler](objs)
			switch {
			case tc.wantHPA == nil && h != nil:
				t.Errorf("unexpected HorizontalPodAutoscaler %+v", h.Spec)
			case tc.wantHPA != nil && h == nil:
				t.Errorf("no HorizontalPodAutoscaler")
			case h != nil:
				if ptr.Deref(h.Spec.MinReplicas, 0) != tc.wantHPA[0] || h.Spec.MaxReplicas != tc.wantHPA[1] {
					t.Errorf("autoscaler replicas %v..%d, want %v", ptrString(h.Spec.MinReplicas), h.Spec.MaxReplicas, *tc.wantHPA)
				}
				if h.Spec.ScaleTargetRef != (autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name}) {
					t.Errorf("scaleTargetRef %+v", h.Spec.ScaleTargetRef)
				}
				if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].ContainerResource == nil ||
					h.Spec.Metrics[0].ContainerResource.Container != "proxy" || h.Spec.Metrics[0].ContainerResource.Name != corev1.ResourceCPU ||
					ptr.Deref(h.Spec.Metrics[0].ContainerResource.Target.AverageUtilization, 0) != tc.wantTargetCPU {
					t.Errorf("metrics %+v, want the proxy container's CPU at %d%%", h.Spec.Metrics, tc.wantTargetCPU)
				}
			}
		})
	}
}

func TestRenderAutoscalerNeedsCPURequest(t *testing.T) {
	in := testInput(nil)
	in.GatewayParams = &agwv1a1.AgentgatewayParametersSpec{
		HorizontalPodAutoscaler: &agwv1a1.AutoscalerSettings{MaxReplicas: 3},
		Resources:               &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
	}
	if _, err := Render(testOptions, in); err == nil || !strings.Contains(err.Error(), "CPU request") {
		t.Fatalf("Render = %v, want an error about the missing CPU request", err)
	}
	// A CPU limit is enough: Kubernetes defaults the request to it.
	in.GatewayParams.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	mustRender(t, in)
}

var testOptions = Options{ProxyImage: "ghcr.io/agentgateway-go/proxy:dev", XDSAddress: "xds:9977", XDSCABundle: testCA}

// testCA stands for the config server's CA certificate (Render copies it, never parses it).
const testCA = "-----BEGIN CERTIFICATE-----\nTUlJ\n-----END CERTIFICATE-----\n"

func testInput(params *agwv1a1.AgentgatewayParametersSpec) Input {
	gw := &gwv1.Gateway{Spec: gwv1.GatewaySpec{GatewayClassName: "c", Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}
	gw.Name, gw.Namespace, gw.UID = "gw", "ns", "11111111-2222-3333-4444-555555555555"
	return Input{Gateway: gw, Ports: PortsFromListeners(gw), GatewayParams: params}
}

func mustRender(t *testing.T, in Input) []client.Object {
	t.Helper()
	objs, err := Render(testOptions, in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return objs
}

func mustYAML(t *testing.T, o client.Object) string {
	t.Helper()
	b, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func find[T client.Object](t *testing.T, objs []client.Object) T {
	t.Helper()
	o := findOpt[T](objs)
	if reflect.ValueOf(o).IsNil() {
		var zero T
		t.Fatalf("no %T in the rendering", zero)
	}
	return o
}

func findOpt[T client.Object](objs []client.Object) T {
	for _, o := range objs {
		if v, ok := o.(T); ok {
			return v
		}
	}
	var zero T
	return zero
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func TestProxyNameFitsDNSLabel(t *testing.T) {
	long := strings.Repeat("g", 70)
	if n := ProxyName(long); len(n) > 63 || n == ProxyName(long+"x") {
		t.Fatalf("ProxyName(%d chars) = %q", len(long), n)
	}
	if n := ProxyName("gw"); n != "gw-agentgateway" {
		t.Fatalf("ProxyName(gw) = %q", n)
	}
}
