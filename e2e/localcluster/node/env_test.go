package node

import (
	"net"
	"testing"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/netns"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"plain":        "plain",
		"$(A)":         "1",
		"x$(A)-$(B)y":  "x1-twoy",
		"$$(A)":        "$(A)",
		"$(MISSING)":   "$(MISSING)",
		"$(unclosed":   "$(unclosed",
		"cost $5":      "cost $5",
		"trailing $":   "trailing $",
		"$(A)$(A)$(B)": "11two",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{NodeName: "n", ServiceAccountName: "sa"},
		Status:     corev1.PodStatus{PodIP: "10.244.0.2", HostIP: "10.244.0.1"},
	}
	for path, want := range map[string]string{
		"metadata.name": "p", "metadata.namespace": "ns", "metadata.uid": "u",
		"metadata.labels['app']": "x", "metadata.annotations['a']": "b", "metadata.labels": "app=\"x\"\n",
		"spec.nodeName": "n", "spec.serviceAccountName": "sa", "status.podIP": "10.244.0.2", "status.hostIP": "10.244.0.1",
	} {
		got, err := fieldValue(pod, path)
		if err != nil || got != want {
			t.Errorf("fieldValue(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := fieldValue(pod, "spec.nope"); err == nil {
		t.Error("unknown field path accepted")
	}
}

func TestResourceValue(t *testing.T) {
	p := &Provider{allocatable: DefaultAllocatable(2)}
	c := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	for _, tc := range []struct {
		res, divisor, want string
	}{
		{"requests.cpu", "", "1"},      // rounded up to whole cores
		{"requests.cpu", "1m", "250"},  // millicores
		{"limits.memory", "1Mi", "64"}, // explicit limit
		{"limits.cpu", "", "2"},        // defaults to node allocatable
	} {
		sel := &corev1.ResourceFieldSelector{Resource: tc.res}
		if tc.divisor != "" {
			sel.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := p.resourceValue(pod, &c, sel)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s = %q, %v; want %q", tc.res, tc.divisor, got, err, tc.want)
		}
	}
}

func TestAllocateIPRoundRobin(t *testing.T) {
	_, gw, err := net.ParseCIDR("10.244.0.1/24")
	if err != nil {
		t.Fatal(err)
	}
	gw.IP = net.ParseIP("10.244.0.1").To4()
	p := NewProvider(ProviderConfig{Network: netns.Config{GatewayCIDR: gw}}, nil)
	a, err := p.allocateIP("a")
	if err != nil {
		t.Fatal(err)
	}
	p.releaseIP(a)
	b, err := p.allocateIP("b")
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != "10.244.0.2" || b.String() != "10.244.0.3" {
		t.Fatalf("got %s then %s; want 10.244.0.2 then 10.244.0.3 (no immediate reuse)", a, b)
	}
	seen := map[string]bool{}
	for i := 0; i < 252; i++ {
		ip, err := p.allocateIP("x")
		if err != nil {
			break
		}
		if seen[ip.String()] || ip.String() == "10.244.0.1" || ip.String() == "10.244.0.255" {
			t.Fatalf("bad or duplicate address %s", ip)
		}
		seen[ip.String()] = true
	}
	if _, err := p.allocateIP("full"); err == nil {
		t.Fatal("full CIDR handed out an address")
	}
}
