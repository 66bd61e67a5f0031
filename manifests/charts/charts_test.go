package charts

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// The tests run in manifests/charts.
const (
	testManifests = ".."
	testCharts    = "."
)

func loadChart(t *testing.T, name string) *chart.Chart {
	t.Helper()
	ch, err := Load(filepath.Join(testCharts, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return ch
}

func render(t *testing.T, name, namespace string, vals map[string]any) []Object {
	t.Helper()
	objs, err := Render(loadChart(t, name), namespace, vals)
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return objs
}

func byKey(t *testing.T, objs []Object) map[string]Object {
	t.Helper()
	m := map[string]Object{}
	for _, o := range objs {
		if _, dup := m[o.Key()]; dup {
			t.Fatalf("%s rendered twice", o.Key())
		}
		m[o.Key()] = o
	}
	return m
}

func TestGeneratedFilesAreUpToDate(t *testing.T) {
	files, err := Generate(testManifests, testCharts)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(testCharts, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("generated chart files are stale (run make chart):\n  %s", strings.Join(stale, "\n  "))
	}
}

// TestDefaultsRenderTheKustomizeBase is the drift check: both charts with default values
// render exactly the objects of `kustomize build manifests`, except the Namespace (Helm
// creates the release namespace) and the keep annotation on CRDs.
func TestDefaultsRenderTheKustomizeBase(t *testing.T) {
	base, err := Kustomize(testManifests)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Object{}
	for _, o := range base {
		if o.Kind() == "Namespace" {
			if o.Name() != BaseNamespace {
				t.Errorf("the base's Namespace is %q; the charts are compared in %q", o.Name(), BaseNamespace)
			}
			continue
		}
		want[o.Key()] = o
	}
	rendered := append(render(t, CRDChartName, BaseNamespace, nil), render(t, ChartName, BaseNamespace, nil)...)
	got := byKey(t, rendered)
	for k, o := range got {
		if o.Kind() != "CustomResourceDefinition" {
			continue
		}
		md := o["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		if ann[KeepAnnotation] != "keep" {
			t.Errorf("%s: annotation %s=keep missing", k, KeepAnnotation)
		}
		delete(ann, KeepAnnotation)
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: in the kustomize base, not rendered by the charts", k)
			continue
		}
		if d := cmp.Diff(want[k], g); d != "" {
			t.Errorf("%s differs (-kustomize +chart):\n%s", k, d)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: rendered by the charts, not in the kustomize base", k)
		}
	}
	if len(want) < 30 {
		t.Fatalf("the base has only %d objects; the comparison looked at the wrong directory", len(want))
	}
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		chart string
		vals  map[string]any
	}{
		{CRDChartName, nil},
		{CRDChartName, map[string]any{"installGatewayAPICRDs": false}},
		{ChartName, nil},
		{ChartName, everyValue()},
	} {
		t.Run(fmt.Sprintf("%s/%d-values", tc.chart, len(tc.vals)), func(t *testing.T) {
			if err := Lint(filepath.Join(testCharts, tc.chart), tc.vals); err != nil {
				t.Fatal(err)
			}
		})
	}
}

const (
	opDigest    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	proxyDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// everyValue sets every value of the operator chart to something other than its default.
func everyValue() map[string]any {
	return map[string]any{
		"image": map[string]any{
			"repository": "registry.example:5000/team/agw",
			"tag":        "1.2.3",
			"digest":     opDigest,
			"pullPolicy": "Always",
		},
		"proxyImage": map[string]any{
			"repository": "mirror.example/agw-proxy",
			"tag":        "1.2.4",
			"digest":     proxyDigest,
		},
		"replicas":     3,
		"resources":    map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "256Mi"}, "limits": map[string]any{"memory": "2Gi", "cpu": 2}},
		"logLevel":     "debug",
		"nodeSelector": map[string]any{"kubernetes.io/os": "linux", "pool": "system"},
		"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}},
		"affinity": map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{
			"weight": 100, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname", "labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "agentgateway-operator"}}},
		}}}},
		"extraLabels": map[string]any{"team": "platform", "example.com/cost-center": "42"},
		"webhook":     map[string]any{"failurePolicy": "Ignore", "timeoutSeconds": 10},
		"metrics":     map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "podMonitor": map[string]any{"enabled": true}},
	}
}

func lookup(t *testing.T, v any, path ...any) any {
	t.Helper()
	if o, ok := v.(Object); ok {
		v = map[string]any(o)
	}
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: %q of a %T", path, k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: [%d] of %T", path, k, v)
			}
			v = l[k]
		}
	}
	return v
}

func TestEveryValueReachesTheObjects(t *testing.T) {
	vals := everyValue()
	objs := byKey(t, render(t, ChartName, "platform", vals))
	dep := objs["apps/v1 Deployment platform/agentgateway-operator"]
	if dep == nil {
		t.Fatalf("no Deployment in platform; rendered %v", slices.Sorted(maps.Keys(objs)))
	}
	c := lookup(t, dep, "spec", "template", "spec", "containers", 0).(map[string]any)
	check := func(what string, got, want any) {
		t.Helper()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}
	check("replicas", lookup(t, dep, "spec", "replicas"), float64(3))
	check("image", c["image"], "registry.example:5000/team/agw/operator@"+opDigest)
	check("imagePullPolicy", c["imagePullPolicy"], "Always")
	check("resources", c["resources"], map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "256Mi"}, "limits": map[string]any{"memory": "2Gi", "cpu": float64(2)}})
	args := c["args"].([]any)
	if !slices.Contains(args, any("--proxy-image=mirror.example/agw-proxy@"+proxyDigest)) {
		t.Errorf("args %v: no --proxy-image with the proxy digest", args)
	}
	if !slices.Contains(args, any("--log-level=debug")) {
		t.Errorf("args %v: no --log-level=debug", args)
	}
	pod := lookup(t, dep, "spec", "template", "spec").(map[string]any)
	check("nodeSelector", pod["nodeSelector"], map[string]any{"kubernetes.io/os": "linux", "pool": "system"})
	check("tolerations", pod["tolerations"], []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}})
	check("affinity topologyKey", lookup(t, pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm", "topologyKey"), "kubernetes.io/hostname")
	check("pod template team label", lookup(t, dep, "spec", "template", "metadata", "labels", "team"), "platform")
	check("selector unchanged", lookup(t, dep, "spec", "selector"), map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "agentgateway-operator"}})

	for k, o := range objs {
		labels := lookup(t, o, "metadata", "labels")
		l, _ := labels.(map[string]any)
		if l["team"] != "platform" || l["example.com/cost-center"] != "42" {
			t.Errorf("%s: labels %v lack the extra labels", k, labels)
		}
		if ns, _ := lookup(t, o, "metadata", "namespace").(string); ns != "" && ns != "platform" && k != "rbac.authorization.k8s.io/v1 RoleBinding kube-system/agentgateway-operator:extension-apiserver-authentication-reader" {
			t.Errorf("%s: namespace %q, want the release namespace platform", k, ns)
		}
		if subjects, ok := o["subjects"].([]any); ok {
			for _, s := range subjects {
				if ns := s.(map[string]any)["namespace"]; ns != "platform" {
					t.Errorf("%s: subject namespace %v, want platform", k, ns)
				}
			}
		}
	}
	wh := objs["admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration /agentgateway-validation"]
	if wh == nil {
		t.Fatal("no ValidatingWebhookConfiguration")
	}
	hooks := wh["webhooks"].([]any)
	if len(hooks) == 0 {
		t.Fatal("no webhooks")
	}
	for i := range hooks {
		check("failurePolicy", lookup(t, wh, "webhooks", i, "failurePolicy"), "Ignore")
		check("timeoutSeconds", lookup(t, wh, "webhooks", i, "timeoutSeconds"), float64(10))
		check("webhook service namespace", lookup(t, wh, "webhooks", i, "clientConfig", "service", "namespace"), "platform")
	}
	api := objs["apiregistration.k8s.io/v1 APIService /v1alpha1.views.agentgateway.dev"]
	check("APIService service namespace", lookup(t, api, "spec", "service", "namespace"), "platform")
}

func TestImageReferences(t *testing.T) {
	for _, tc := range []struct {
		name            string
		vals            map[string]any
		operator, proxy string
	}{
		{"defaults: appVersion", nil, "ghcr.io/agentgateway-go/operator:dev", "ghcr.io/agentgateway-go/proxy:dev"},
		{"tag for both", map[string]any{"image": map[string]any{"tag": "0.3.0"}}, "ghcr.io/agentgateway-go/operator:0.3.0", "ghcr.io/agentgateway-go/proxy:0.3.0"},
		{"digest wins over tag", map[string]any{"image": map[string]any{"tag": "0.3.0", "digest": opDigest}, "proxyImage": map[string]any{"digest": proxyDigest}},
			"ghcr.io/agentgateway-go/operator@" + opDigest, "ghcr.io/agentgateway-go/proxy@" + proxyDigest},
		{"proxy repository and tag", map[string]any{"proxyImage": map[string]any{"repository": "example.com/p", "tag": "x1"}}, "ghcr.io/agentgateway-go/operator:dev", "example.com/p:x1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := byKey(t, render(t, ChartName, BaseNamespace, tc.vals))
			c := lookup(t, objs["apps/v1 Deployment agentgateway-system/agentgateway-operator"], "spec", "template", "spec", "containers", 0).(map[string]any)
			if c["image"] != tc.operator {
				t.Errorf("image %v, want %s", c["image"], tc.operator)
			}
			if args := c["args"].([]any); !slices.Contains(args, any("--proxy-image="+tc.proxy)) {
				t.Errorf("args %v, want --proxy-image=%s", args, tc.proxy)
			}
		})
	}
}

func TestInstallGatewayAPICRDs(t *testing.T) {
	for _, install := range []bool{true, false} {
		objs := render(t, CRDChartName, BaseNamespace, map[string]any{"installGatewayAPICRDs": install})
		var gw, ours int
		for _, o := range objs {
			switch g, _ := lookup(t, o, "spec", "group").(string); {
			case o.Kind() == "CustomResourceDefinition" && g == "agentgateway.dev":
				ours++
			case strings.Contains(o.Name(), "gateway.networking"):
				gw++
			default:
				t.Errorf("installGatewayAPICRDs=%v: unexpected %s", install, o.Key())
			}
		}
		if ours != 3 {
			t.Errorf("installGatewayAPICRDs=%v: %d agentgateway.dev CRDs, want 3", install, ours)
		}
		if install && gw < 10 {
			t.Errorf("installGatewayAPICRDs=true: %d Gateway API objects", gw)
		}
		if !install && gw != 0 {
			t.Errorf("installGatewayAPICRDs=false: %d Gateway API objects, want none", gw)
		}
	}
}

// TestSchemaRejectsBadValues: a misspelt, unknown or ill-typed value fails rendering and the
// error names the value.
func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		chart string
		vals  map[string]any
		want  []string
	}{
		{ChartName, map[string]any{"replica": 3}, []string{"replica"}},
		{ChartName, map[string]any{"replicas": "two"}, []string{"replicas", "string"}},
		{ChartName, map[string]any{"replicas": -1}, []string{"replicas"}},
		{ChartName, map[string]any{"logLevel": "verbose"}, []string{"logLevel", "one of"}},
		{ChartName, map[string]any{"image": map[string]any{"digest": "sha256:abc"}}, []string{"image/digest"}},
		{ChartName, map[string]any{"image": map[string]any{"tag": "a b"}}, []string{"image/tag"}},
		{ChartName, map[string]any{"image": map[string]any{"registry": "x"}}, []string{"registry"}},
		{ChartName, map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, []string{"pullPolicy"}},
		{ChartName, map[string]any{"resources": map[string]any{"request": map[string]any{"cpu": "1"}}}, []string{"request"}},
		{ChartName, map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "lots"}}}, []string{"limits/memory"}},
		{ChartName, map[string]any{"nodeSelector": map[string]any{"pool": 1}}, []string{"nodeSelector/pool"}},
		{ChartName, map[string]any{"tolerations": []any{map[string]any{"effect": "NoSchedul"}}}, []string{"tolerations/0/effect"}},
		{ChartName, map[string]any{"affinity": map[string]any{"nodeAfinity": map[string]any{}}}, []string{"nodeAfinity"}},
		{ChartName, map[string]any{"extraLabels": map[string]any{"app.kubernetes.io/name": "x"}}, []string{"extraLabels/app.kubernetes.io"}},
		{ChartName, map[string]any{"webhook": map[string]any{"failurePolicy": "Warn"}}, []string{"webhook/failurePolicy"}},
		{ChartName, map[string]any{"webhook": map[string]any{"timeoutSeconds": 31}}, []string{"webhook/timeoutSeconds"}},
		{CRDChartName, map[string]any{"installGatewayAPICRDs": "yes"}, []string{"installGatewayAPICRDs"}},
		{CRDChartName, map[string]any{"installGatewayApiCRDs": false}, []string{"installGatewayApiCRDs"}},
	} {
		t.Run(fmt.Sprint(tc.vals), func(t *testing.T) {
			_, err := Render(loadChart(t, tc.chart), BaseNamespace, tc.vals)
			if err == nil {
				t.Fatalf("rendered with %v", tc.vals)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}
