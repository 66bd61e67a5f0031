package charts

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentgateway/agentgateway-go/operator/deployer"
)

// TestMonitors: metrics.serviceMonitor.enabled and metrics.podMonitor.enabled each render
// their object of manifests/monitoring in the release namespace, nothing when off; the
// PodMonitor selects the labels the deployer gives proxy pods, on their metrics port.
func TestMonitors(t *testing.T) {
	base, err := Kustomize(filepath.Join(testManifests, "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	const sm = "monitoring.coreos.com/v1 ServiceMonitor platform/agentgateway-operator"
	const pm = "monitoring.coreos.com/v1 PodMonitor platform/agentgateway-proxies"
	for _, tc := range []struct {
		service, pod bool
	}{{false, false}, {true, false}, {false, true}, {true, true}} {
		vals := map[string]any{"metrics": map[string]any{
			"serviceMonitor": map[string]any{"enabled": tc.service},
			"podMonitor":     map[string]any{"enabled": tc.pod},
		}}
		objs := byKey(t, render(t, ChartName, "platform", vals))
		for key, want := range map[string]bool{sm: tc.service, pm: tc.pod} {
			if _, ok := objs[key]; ok != want {
				t.Errorf("serviceMonitor=%v podMonitor=%v: %s rendered %v, want %v (rendered %v)", tc.service, tc.pod, key, ok, want, slices.Sorted(maps.Keys(objs)))
			}
		}
		if !tc.service || !tc.pod {
			continue
		}
		// The rendered objects are the base's, in the release namespace.
		for _, o := range base {
			md := o["metadata"].(map[string]any)
			md["namespace"] = "platform"
			got := objs[o.Key()]
			if d := cmp.Diff(o, got); d != "" {
				t.Errorf("%s differs (-base +chart):\n%s", o.Key(), d)
			}
		}
		p := objs[pm]
		sel := lookup(t, p, "spec", "selector", "matchLabels")
		want := map[string]any{deployer.NameLabel: deployer.ProxyLabelValue, deployer.ManagedByLabel: deployer.ManagedByValue}
		if d := cmp.Diff(want, sel); d != "" {
			t.Errorf("PodMonitor selector (-deployer labels +chart):\n%s", d)
		}
		if port := lookup(t, p, "spec", "podMetricsEndpoints", 0, "port"); port != "metrics" {
			t.Errorf("PodMonitor port %v; the deployer names the proxy's metrics port \"metrics\"", port)
		}
		if all := lookup(t, p, "spec", "namespaceSelector", "any"); all != true {
			t.Errorf("PodMonitor namespaceSelector.any = %v; proxies run in every Gateway's namespace", all)
		}
		s := objs[sm]
		svc := objs["v1 Service platform/agentgateway-metrics"]
		if svc == nil {
			t.Fatal("no agentgateway-metrics Service")
		}
		for k, v := range lookup(t, s, "spec", "selector", "matchLabels").(map[string]any) {
			if lookup(t, svc, "metadata", "labels", k) != v {
				t.Errorf("ServiceMonitor selects %s=%v; the metrics Service has labels %v", k, v, lookup(t, svc, "metadata", "labels"))
			}
		}
		if port := lookup(t, s, "spec", "endpoints", 0, "port"); port != lookup(t, svc, "spec", "ports", 0, "name") {
			t.Errorf("ServiceMonitor port %v is not the Service's", port)
		}
	}
}
