package configserver

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// DisconnectedReason is the reason of the Warning Event recorded on a Gateway whose proxy
// pod runs without a config stream.
const DisconnectedReason = "ConfigStreamDisconnected"

// Disconnected is a running proxy pod that holds no config stream to any replica.
type Disconnected struct {
	Namespace, Pod, Gateway, Node string
	// Since is when its last stream ended, or when its proxy container started if it had
	// none since.
	Since time.Time
}

// Disconnects finds the proxy pods that run without a config stream for longer than Grace:
// such a proxy serves its last config (or none) and sees no change, and only its own logs,
// /ready and metrics say so otherwise.
type Disconnects struct {
	// Pods reads the proxy pods (labelled by the deployer: NameLabel, GatewayNameLabel).
	Pods client.Reader
	// Selector selects the proxy pods; the Gateway is the value of GatewayLabel.
	Selector     client.MatchingLabels
	GatewayLabel string
	// Container is the proxy container's name, whose start counts when a pod never had a
	// stream.
	Container string
	// Proxies returns what every replica knows of its proxies (this replica's and the
	// peers'): a pod is disconnected when none has it Connected.
	Proxies func() []ProxyState
	// Grace is how long a pod may run without a stream before it is reported (default 30 s):
	// proxies start and reconnect within it.
	Grace time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

func (d *Disconnects) grace() time.Duration {
	if d.Grace > 0 {
		return d.Grace
	}
	return 30 * time.Second
}

// Find lists the Running proxy pods without a stream for longer than Grace, sorted by
// namespace and pod.
func (d *Disconnects) Find(ctx context.Context) ([]Disconnected, error) {
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	var pods corev1.PodList
	if err := d.Pods.List(ctx, &pods, d.Selector); err != nil {
		return nil, fmt.Errorf("list proxy pods: %w", err)
	}
	connected := map[types.NamespacedName]bool{}
	ended := map[types.NamespacedName]time.Time{}
	for _, p := range d.Proxies() {
		k := types.NamespacedName{Namespace: p.Namespace, Name: p.Pod}
		if p.Connected {
			connected[k] = true
		} else if p.DisconnectedAt.After(ended[k]) {
			ended[k] = p.DisconnectedAt
		}
	}
	var out []Disconnected
	for i := range pods.Items {
		pod := &pods.Items[i]
		k := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
		if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil || connected[k] {
			continue
		}
		since := d.runningSince(pod)
		if e := ended[k]; e.After(since) {
			since = e
		}
		if now.Sub(since) < d.grace() {
			continue
		}
		out = append(out, Disconnected{Namespace: pod.Namespace, Pod: pod.Name, Gateway: pod.Labels[d.GatewayLabel], Node: pod.Spec.NodeName, Since: since})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Pod < out[j].Pod
	})
	return out, nil
}

// runningSince is when the pod's proxy container (re)started, falling back to the pod's start.
func (d *Disconnects) runningSince(pod *corev1.Pod) time.Time {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == d.Container && cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero() {
			return cs.State.Running.StartedAt.Time
		}
	}
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return pod.CreationTimestamp.Time
}

// DisconnectEvents records a Warning Event (DisconnectedReason) on the Gateway of each
// disconnected proxy pod, at most once per pod every Every (default 5 minutes).
type DisconnectEvents struct {
	Recorder events.EventRecorder
	// Gateways reads the Gateways the Events are about.
	Gateways client.Reader
	Every    time.Duration
	Now      func() time.Time

	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// Report records the Events that are due for ds: a pod is reported when it is first found
// disconnected and again every Every while it stays so, and a pod that reconnects and drops
// again within Every is not reported anew.
func (e *DisconnectEvents) Report(ctx context.Context, ds []Disconnected) {
	now := time.Now()
	if e.Now != nil {
		now = e.Now()
	}
	every := e.Every
	if every <= 0 {
		every = 5 * time.Minute
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		e.last = map[types.NamespacedName]time.Time{}
	}
	for _, d := range ds {
		k := types.NamespacedName{Namespace: d.Namespace, Name: d.Pod}
		if last, ok := e.last[k]; ok && now.Sub(last) < every {
			continue
		}
		var gw gwv1.Gateway
		if err := e.Gateways.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: d.Gateway}, &gw); err != nil {
			continue // no Gateway (being deleted): nothing to tell
		}
		e.last[k] = now
		e.Recorder.Eventf(&gw, nil, corev1.EventTypeWarning, DisconnectedReason, "ConnectConfigStream",
			"proxy pod %s has had no config stream since %s (%s): it serves its last config and receives no change; see its logs and /ready",
			d.Pod, d.Since.UTC().Format(time.RFC3339), now.Sub(d.Since).Truncate(time.Second))
	}
	for k, last := range e.last {
		if now.Sub(last) >= every {
			delete(e.last, k)
		}
	}
}
