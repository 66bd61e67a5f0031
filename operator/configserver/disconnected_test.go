package configserver

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func runningPod(name, gateway string, started time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Labels: map[string]string{"app": "proxy", "gw": gateway}},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "proxy", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
		}}},
	}
}

func TestDisconnectsFind(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	pending := runningPod("pending", "web", now.Add(-time.Hour))
	pending.Status.Phase = corev1.PodPending
	c := fake.NewClientBuilder().WithObjects(
		runningPod("connected", "web", now.Add(-time.Hour)),
		runningPod("never", "web", now.Add(-time.Minute)),
		runningPod("starting", "web", now.Add(-10*time.Second)),
		runningPod("lost", "web", now.Add(-time.Hour)),
		runningPod("reconnecting", "web", now.Add(-time.Hour)),
		pending,
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "other-app"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	).Build()
	d := &Disconnects{
		Pods: c, Selector: client.MatchingLabels{"app": "proxy"}, GatewayLabel: "gw", Container: "proxy",
		Grace: 30 * time.Second, Now: func() time.Time { return now },
		Proxies: func() []ProxyState {
			return []ProxyState{
				{Namespace: "apps", Pod: "connected", Connected: true},
				{Namespace: "apps", Pod: "lost", DisconnectedAt: now.Add(-2 * time.Minute)},
				{Namespace: "apps", Pod: "reconnecting", DisconnectedAt: now.Add(-5 * time.Second)},
			}
		},
	}
	got, err := d.Find(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Disconnected{
		{Namespace: "apps", Pod: "lost", Gateway: "web", Node: "node-1", Since: now.Add(-2 * time.Minute)},
		{Namespace: "apps", Pod: "never", Gateway: "web", Node: "node-1", Since: now.Add(-time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("Find = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Pod != want[i].Pod || got[i].Gateway != want[i].Gateway || got[i].Node != want[i].Node || !got[i].Since.Equal(want[i].Since) {
			t.Errorf("Find[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDisconnectEventsRateLimited(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}}).Build()
	rec := events.NewFakeRecorder(100)
	now := time.Now()
	e := &DisconnectEvents{Recorder: rec, Gateways: c, Every: 5 * time.Minute, Now: func() time.Time { return now }}
	lost := []Disconnected{{Namespace: "apps", Pod: "web-1", Gateway: "web", Since: now.Add(-time.Minute)}}
	ctx := context.Background()

	e.Report(ctx, lost)
	select {
	case ev := <-rec.Events:
		if !strings.Contains(ev, "Warning") || !strings.Contains(ev, DisconnectedReason) || !strings.Contains(ev, "web-1") {
			t.Fatalf("event %q", ev)
		}
	default:
		t.Fatal("no event for a disconnected pod")
	}
	// Again a minute later, and after reconnecting and dropping again: nothing new.
	now = now.Add(time.Minute)
	e.Report(ctx, lost)
	e.Report(ctx, nil)
	e.Report(ctx, lost)
	if n := len(rec.Events); n != 0 {
		t.Fatalf("%d more events within five minutes", n)
	}
	// Five minutes after the first: reported again.
	now = now.Add(4 * time.Minute)
	e.Report(ctx, lost)
	if n := len(rec.Events); n != 1 {
		t.Fatalf("%d events five minutes later, want 1", n)
	}
	// A pod of a Gateway that is gone: no event.
	e.Report(ctx, []Disconnected{{Namespace: "apps", Pod: "x-1", Gateway: "gone", Since: now}})
	if n := len(rec.Events); n != 1 {
		t.Fatal("an event for a missing Gateway")
	}
}
