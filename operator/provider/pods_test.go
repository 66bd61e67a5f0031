package provider

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

func testPod(ns, name string, labels map[string]string, ip string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, ResourceVersion: "1",
			Annotations: map[string]string{"big": "annotation"}, OwnerReferences: []metav1.OwnerReference{{Name: "rs"}}},
		Spec: corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{Name: "app", Image: "app", Env: []corev1.EnvVar{{Name: "A", Value: "B"}}}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: st, Message: "m"},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app"}},
		},
	}
}

// TestStripPod: the cached Pod keeps what endpoint selection reads and nothing else.
func TestStripPod(t *testing.T) {
	out, err := stripPod(testPod("ns", "p", map[string]string{"app": "api"}, "10.0.0.1", true))
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*corev1.Pod)
	if p.Name != "p" || p.Namespace != "ns" || p.ResourceVersion != "1" || p.Labels["app"] != "api" {
		t.Errorf("identity or labels lost: %+v", p.ObjectMeta)
	}
	if len(p.Annotations) != 0 || len(p.OwnerReferences) != 0 || len(p.Spec.Containers) != 0 || p.Spec.NodeName != "" || len(p.Status.ContainerStatuses) != 0 || p.Status.Phase != "" {
		t.Errorf("kept more than needed: %+v", p)
	}
	if len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Type != corev1.PodReady || p.Status.Conditions[0].Message != "" || !translate.PodReady(p) {
		t.Errorf("conditions: %+v", p.Status.Conditions)
	}
	if len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != "10.0.0.1" {
		t.Errorf("IPs: %+v", p.Status.PodIPs)
	}
}

// TestPodEventsFiltered: only changes endpoint selection reads pass, and only Pods that an
// EndpointSelector XBackend of their namespace selects (before or after) start a reconcile.
func TestPodEventsFiltered(t *testing.T) {
	strip := func(p *corev1.Pod) *corev1.Pod {
		o, err := stripPod(p)
		if err != nil {
			t.Fatal(err)
		}
		return o.(*corev1.Pod)
	}
	base := testPod("ns", "p", map[string]string{"app": "api"}, "10.0.0.1", true)
	same := base.DeepCopy()
	same.ResourceVersion = "2"
	same.Status.ContainerStatuses[0].RestartCount = 3
	if podMatters.Update(event.UpdateEvent{ObjectOld: strip(base), ObjectNew: strip(same)}) {
		t.Error("an update of fields selection does not read passed")
	}
	for name, change := range map[string]func(*corev1.Pod){
		"labels":   func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} },
		"ip":       func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.2"}} },
		"ready":    func(p *corev1.Pod) { p.Status.Conditions[1].Status = corev1.ConditionFalse },
		"deleting": func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} },
	} {
		n := base.DeepCopy()
		change(n)
		if !podMatters.Update(event.UpdateEvent{ObjectOld: strip(base), ObjectNew: strip(n)}) {
			t.Errorf("%s change filtered out", name)
		}
	}

	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	sel := func(ns, name string, labels map[gwv1.LabelKey]gwv1.LabelValue) *gwxv1a1.XBackend {
		return &gwxv1a1.XBackend{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: gwxv1a1.BackendSpec{
			Type: gwxv1a1.BackendTypeEndpointSelector, Port: gwxv1a1.BackendPort{Number: 80},
			EndpointSelector: &gwxv1a1.EndpointSelectorBackend{LabelSelector: gwxv1a1.LabelSelector{MatchLabels: labels}},
		}}
	}
	r := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		sel("ns", "api", map[gwv1.LabelKey]gwv1.LabelValue{"app": "api", "tier": "web"}),
		sel("other", "db", map[gwv1.LabelKey]gwv1.LabelValue{"app": "db"}),
		&gwxv1a1.XBackend{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns"}, Spec: gwxv1a1.BackendSpec{
			Type: gwxv1a1.BackendTypeExternalHostname, Port: gwxv1a1.BackendPort{Number: 80},
			ExternalHostname: &gwxv1a1.ExternalHostnameBackend{Hostname: "api.example.com"},
		}},
	).Build()
	p := &Provider{reader: r, log: slog.New(slog.DiscardHandler)}
	for _, c := range []struct {
		ns     string
		labels map[string]string
		want   bool
	}{
		{"ns", map[string]string{"app": "api", "tier": "web", "extra": "x"}, true},
		{"ns", map[string]string{"app": "api"}, false},                   // one label missing
		{"other", map[string]string{"app": "api", "tier": "web"}, false}, // another namespace
		{"other", map[string]string{"app": "db"}, true},
		{"empty", map[string]string{"app": "api", "tier": "web"}, false},
	} {
		if got := p.podSelected(context.Background(), testPod(c.ns, "p", c.labels, "10.0.0.1", true)); got != c.want {
			t.Errorf("Pod %s %v selected = %v, want %v", c.ns, c.labels, got, c.want)
		}
	}
}
