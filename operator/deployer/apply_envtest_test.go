package deployer

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
)

func startClient(t *testing.T) client.Client {
	t.Helper()
	env := envtest.Start(t)
	c, err := client.New(env.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// TestApplyBudgetAndAutoscaler drives the Applier against a real kube-apiserver through the
// life of a Gateway's budget and autoscaler: created with the parameters, replicas handed to
// the autoscaler without a drop to 1, deleted when turned off, pruned with the Gateway.
func TestApplyBudgetAndAutoscaler(t *testing.T) {
	c := startClient(t)
	ctx := context.Background()
	in := testInput(nil)
	createNamespace(t, c, in.Gateway.Namespace, nil)
	a := &Applier{Client: c, Reader: c}
	key := types.NamespacedName{Namespace: in.Gateway.Namespace, Name: ProxyName(in.Gateway.Name)}

	apply := func(p *agwv1a1.AgentgatewayParametersSpec) int {
		t.Helper()
		in.GatewayParams = p
		n, err := a.Apply(ctx, mustRender(t, in))
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		return n
	}
	exists := func(obj client.Object) bool {
		t.Helper()
		err := c.Get(ctx, key, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("get %T: %v", obj, err)
		}
		return err == nil
	}
	replicas := func() int32 {
		t.Helper()
		var dep appsv1.Deployment
		if err := c.Get(ctx, key, &dep); err != nil {
			t.Fatalf("get Deployment: %v", err)
		}
		return ptr.Deref(dep.Spec.Replicas, -1)
	}

	// Three replicas: a budget, no autoscaler.
	if n := apply(&agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](3)}); n != 5 {
		t.Fatalf("first Apply wrote %d objects, want 5 (ServiceAccount, CA ConfigMap, Deployment, Service, budget)", n)
	}
	var pdb policyv1.PodDisruptionBudget
	if !exists(&pdb) || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("budget %+v, want maxUnavailable 1", pdb.Spec)
	}
	if exists(&autoscalingv2.HorizontalPodAutoscaler{}) {
		t.Fatal("autoscaler made without being asked for")
	}
	if got := replicas(); got != 3 {
		t.Fatalf("replicas = %d, want 3", got)
	}
	if n := apply(&agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](3)}); n != 0 {
		t.Fatalf("unchanged Apply wrote %d objects, want 0", n)
	}

	// The autoscaler takes over: the count stays at 3 and is no longer ours.
	hpa := &agwv1a1.AgentgatewayParametersSpec{HorizontalPodAutoscaler: &agwv1a1.AutoscalerSettings{MinReplicas: ptr.To[int32](2), MaxReplicas: 5}}
	apply(hpa)
	var h autoscalingv2.HorizontalPodAutoscaler
	if !exists(&h) || ptr.Deref(h.Spec.MinReplicas, 0) != 2 || h.Spec.MaxReplicas != 5 || h.Spec.ScaleTargetRef.Name != key.Name {
		t.Fatalf("autoscaler %+v, want 2..5 replicas of %s", h.Spec, key.Name)
	}
	if metav1.GetControllerOf(&h) == nil || metav1.GetControllerOf(&h).Kind != "Gateway" {
		t.Errorf("autoscaler owners %+v, want the Gateway", h.OwnerReferences)
	}
	if got := replicas(); got != 3 {
		t.Fatalf("replicas = %d after the autoscaler took over, want 3 (kept, not reset)", got)
	}
	var dep appsv1.Deployment
	if err := c.Get(ctx, key, &dep); err != nil {
		t.Fatal(err)
	}
	for _, mf := range dep.ManagedFields {
		if mf.Manager == FieldManager && mf.FieldsV1 != nil && strings.Contains(mf.FieldsV1.GetRawString(), `"f:replicas"`) {
			t.Fatalf("%s still owns spec.replicas: %s", FieldManager, mf.FieldsV1.GetRawString())
		}
	}

	// The autoscaler scales (as the HPA controller does, through the scale subresource), then
	// an unrelated change is applied: the autoscaler's count stays.
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: 4}}
	if err := c.SubResource("scale").Update(ctx, &dep, client.WithSubResourceBody(scale), client.FieldOwner("horizontal-pod-autoscaler")); err != nil {
		t.Fatalf("scale: %v", err)
	}
	hpa.Logging = &agwv1a1.Logging{Level: ptr.To[agwv1a1.LogLevel]("debug")}
	if n := apply(hpa); n != 1 {
		t.Fatalf("log level change wrote %d objects, want 1 (the Deployment)", n)
	}
	if got := replicas(); got != 4 {
		t.Fatalf("replicas = %d after an apply, want the autoscaler's 4", got)
	}

	// Back to one fixed replica: autoscaler and budget are deleted, the count is ours again.
	if n := apply(&agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](1)}); n != 3 {
		t.Fatalf("turning both off changed %d objects, want 3 (Deployment written, budget and autoscaler deleted)", n)
	}
	if exists(&autoscalingv2.HorizontalPodAutoscaler{}) || exists(&policyv1.PodDisruptionBudget{}) {
		t.Fatal("autoscaler or budget left behind after being turned off")
	}
	if got := replicas(); got != 1 {
		t.Fatalf("replicas = %d, want 1", got)
	}

	// Prune removes the budget and the autoscaler with the rest of the workload.
	apply(hpa)
	n, err := a.Prune(ctx, map[types.NamespacedName]bool{})
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if n != 6 {
		t.Fatalf("Prune deleted %d objects, want 6", n)
	}
	for _, o := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &policyv1.PodDisruptionBudget{}, &autoscalingv2.HorizontalPodAutoscaler{}} {
		if exists(o) {
			t.Errorf("%T left after Prune", o)
		}
	}
}

// TestApplyLeavesForeignObjects checks that a budget of the same name that the operator did
// not make survives a rendering without a budget.
func TestApplyLeavesForeignObjects(t *testing.T) {
	c := startClient(t)
	ctx := context.Background()
	in := testInput(nil)
	createNamespace(t, c, in.Gateway.Namespace, nil)
	foreign := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: ProxyName(in.Gateway.Name), Namespace: in.Gateway.Namespace},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1))},
	}
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	a := &Applier{Client: c, Reader: c}
	if _, err := a.Apply(ctx, mustRender(t, in)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(foreign), &policyv1.PodDisruptionBudget{}); err != nil {
		t.Fatalf("foreign budget: %v", err)
	}
}

// TestRenderedPodIsRestricted admits a pod built from the rendered template into a namespace
// that enforces the "restricted" Pod Security Standard, which also accepts the unprivileged
// port sysctl as safe.
func TestRenderedPodIsRestricted(t *testing.T) {
	c := startClient(t)
	ctx := context.Background()
	in := testInput(nil)
	createNamespace(t, c, in.Gateway.Namespace, map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})
	objs := mustRender(t, in)
	// The ServiceAccount must exist for the pod to be admitted.
	if err := c.Create(ctx, find[*corev1.ServiceAccount](t, objs)); err != nil {
		t.Fatalf("create ServiceAccount: %v", err)
	}
	tmpl := find[*appsv1.Deployment](t, objs).Spec.Template
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "proxy", Namespace: in.Gateway.Namespace, Labels: tmpl.Labels}, Spec: tmpl.Spec}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatalf("rendered proxy pod rejected under restricted Pod Security: %v", err)
	}
	// Control: the same namespace rejects a pod that is not hardened, so admission above
	// really checked something.
	bare := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: in.Gateway.Namespace},
		Spec: corev1.PodSpec{
			ServiceAccountName: tmpl.Spec.ServiceAccountName, AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "c", Image: "x"}},
		},
	}
	if err := c.Create(ctx, bare); !apierrors.IsForbidden(err) {
		t.Fatalf("pod without a securityContext: got %v, want Forbidden by Pod Security", err)
	}
}
