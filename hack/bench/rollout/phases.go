package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/operator/deployer"
)

// restartBackend is phase 1: a rollout restart of the echo Deployment.
func (b *bench) restartBackend(ctx context.Context, _ *traffic) error {
	return b.restart(ctx, echoName)
}

// restartProxy is phase 2: a rollout restart of the Gateway's proxy Deployment.
func (b *bench) restartProxy(ctx context.Context, _ *traffic) error {
	return b.restart(ctx, deployer.ProxyName(b.o.gateway))
}

// restart does what `kubectl rollout restart` does (stamps the pod template with
// kubectl.kubernetes.io/restartedAt), waits until the rollout completed and the old pods
// are gone, then keeps the traffic running for the settle time.
func (b *bench) restart(ctx context.Context, name string) error {
	old, err := b.pods(ctx, name)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339Nano)},
	}}}})
	if err != nil {
		return err
	}
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = b.o.namespace, name
	if err := b.c.Patch(ctx, d, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
		return fmt.Errorf("restart deployment %s: %w", name, err)
	}
	logf("deployment %s: rollout restart (old pods %s)", name, strings.Join(podNames(old), " "))
	wctx, cancel := context.WithTimeout(ctx, b.o.stepTimeout)
	defer cancel()
	if err := b.waitDeployment(wctx, name, old); err != nil {
		return err
	}
	logf("deployment %s: rollout complete, old pods gone; settling %s", name, b.o.settle)
	return pause(ctx, b.o.settle)
}

// pods lists the pods of Deployment name (by its selector).
func (b *bench) pods(ctx context.Context, name string) ([]corev1.Pod, error) {
	d := &appsv1.Deployment{}
	if err := b.c.Get(ctx, types.NamespacedName{Namespace: b.o.namespace, Name: name}, d); err != nil {
		return nil, fmt.Errorf("get deployment %s: %w", name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s selector: %w", name, err)
	}
	var pods corev1.PodList
	if err := b.c.List(ctx, &pods, client.InNamespace(b.o.namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", name, err)
	}
	return pods.Items, nil
}

func podNames(pods []corev1.Pod) []string {
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// podState is what the progress log shows of a pod: ready, not ready, or terminating.
func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return "ready"
		}
	}
	return "not-ready"
}

// waitDeployment waits until Deployment name has rolled out its current template on every
// replica, all ready, and none of the pods in old exists any more. It logs each pod's
// state changes with the time, to line up with failed requests.
func (b *bench) waitDeployment(ctx context.Context, name string, old []corev1.Pod) error {
	seen := map[string]string{}
	for {
		d := &appsv1.Deployment{}
		if err := b.c.Get(ctx, types.NamespacedName{Namespace: b.o.namespace, Name: name}, d); err != nil {
			return fmt.Errorf("get deployment %s: %w", name, err)
		}
		pods, err := b.pods(ctx, name)
		if err != nil {
			return err
		}
		now := map[string]string{}
		for i := range pods {
			now[pods[i].Name] = podState(&pods[i])
		}
		for _, n := range sortedNames(now) {
			if seen[n] != now[n] {
				logf("deployment %s: pod %s %s", name, n, now[n])
			}
		}
		for _, n := range sortedNames(seen) {
			if _, ok := now[n]; !ok {
				logf("deployment %s: pod %s gone", name, n)
			}
		}
		seen = now
		want := ptrDeref(d.Spec.Replicas, 1)
		done := d.Status.ObservedGeneration >= d.Generation &&
			d.Status.UpdatedReplicas == want && d.Status.Replicas == want &&
			d.Status.ReadyReplicas == want && d.Status.AvailableReplicas == want
		for _, p := range old {
			if _, ok := now[p.Name]; ok {
				done = false
			}
		}
		if done {
			return nil
		}
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("deployment %s did not finish its rollout (updated %d, ready %d, available %d of %d; pods %v): %w",
				name, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, want, now, err)
		}
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func ptrDeref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// changeRoutes is phase 3: changes of the route, each moving it to the other Service and
// setting changeHeader to the change's number, each waited for until an answer carries
// that number.
func (b *bench) changeRoutes(ctx context.Context, t *traffic) error {
	var lat []time.Duration
	for k := 1; k <= b.o.changes; k++ {
		svc := services[k%2]
		t0 := time.Now()
		if err := b.setRoute(ctx, svc, k); err != nil {
			return err
		}
		deadline := t0.Add(b.o.stepTimeout)
		for t.lastChange.Load() < int64(k) {
			if time.Now().After(deadline) {
				return fmt.Errorf("change %d (to Service %s) not served after %s", k, svc, b.o.stepTimeout)
			}
			if err := pause(ctx, time.Millisecond); err != nil {
				return err
			}
		}
		lat = append(lat, time.Since(t0))
	}
	if len(lat) > 0 {
		sorted := append([]time.Duration(nil), lat...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		logf("routes: %d changes served, each after median %s, max %s", len(lat),
			sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
	}
	logf("routes: settling %s", b.o.settle)
	return pause(ctx, b.o.settle)
}
