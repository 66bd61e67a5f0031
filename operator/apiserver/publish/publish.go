// Package publish converts what the operator pipeline produces into the views the aggregated
// API serves, so that the wiring in the operator's main loop is two calls:
//
//	views.PublishEffectiveConfigs(publish.EffectiveConfigs(result))          // after every translation
//	views.PublishConfigs(publish.Configs(result))                            // with it, for explain
//	views.PublishProxyStatuses(podName, publish.ProxyStatuses(cs.Proxies(), nil)) // on configserver OnChange and every few seconds
//
// It is kept apart from package apiserver so the server does not depend on the pipeline.
package publish

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// EffectiveConfigs returns the EffectiveConfig of every Gateway of a translation.
func EffectiveConfigs(res *translate.Result) []*viewsv1a1.EffectiveConfig {
	var out []*viewsv1a1.EffectiveConfig
	for _, g := range res.Gateways {
		if g.Effective != nil {
			out = append(out, g.Effective)
		}
	}
	return out
}

// Configs returns the proxy config of every Gateway of a translation that has one.
func Configs(res *translate.Result) map[types.NamespacedName]*config.Config {
	out := map[types.NamespacedName]*config.Config{}
	for _, g := range res.Gateways {
		if g.Config != nil {
			out[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}] = g.Config
		}
	}
	return out
}

// ProxyStatuses converts the config server's proxy states. node, when not nil, returns the
// node of a proxy pod (from the operator's pod cache). A ProxyStatus is named after its pod
// and created when the proxy first connected, so every replica shows the same AGE.
func ProxyStatuses(states []configserver.ProxyState, node func(namespace, pod string) string) []*viewsv1a1.ProxyStatus {
	out := make([]*viewsv1a1.ProxyStatus, 0, len(states))
	for _, s := range states {
		p := &viewsv1a1.ProxyStatus{
			ObjectMeta: metav1.ObjectMeta{
				Namespace:         s.Namespace,
				Name:              s.Pod,
				CreationTimestamp: metav1.NewTime(s.ConnectedSince.Truncate(time.Second)),
			},
			Gateway:   s.Gateway,
			Pod:       s.Pod,
			Connected: s.Connected,
			DisconnectedSince: func() *metav1.Time {
				if s.Connected {
					return nil
				}
				return timePtr(s.DisconnectedAt)
			}(),
			ConnectedSince:  timePtr(s.ConnectedSince),
			LastHeartbeat:   timePtr(s.LastHeartbeat),
			AckedVersion:    s.AckedVersion,
			LatestVersion:   s.LatestVersion,
			RejectedVersion: s.RejectedVersion,
			LastError:       s.LastError,
			BuildVersion:    s.BuildVersion,
		}
		if node != nil {
			p.Node = node(s.Namespace, s.Pod)
		}
		out = append(out, p)
	}
	return out
}

// WithDisconnected is statuses (this replica's proxies, from ProxyStatuses) with the running
// proxy pods that hold no config stream to any replica (configserver.Disconnects): a pod
// this replica knows is marked disconnected since ds says; the others are added. A proxy
// this replica lost that is connected to another replica (elsewhere) is left out, so that
// the peers' view of it as connected is the one served.
func WithDisconnected(statuses []*viewsv1a1.ProxyStatus, ds []configserver.Disconnected, elsewhere func(namespace, pod string) bool) []*viewsv1a1.ProxyStatus {
	byPod := map[[2]string]configserver.Disconnected{}
	for _, d := range ds {
		byPod[[2]string{d.Namespace, d.Pod}] = d
	}
	out := make([]*viewsv1a1.ProxyStatus, 0, len(statuses)+len(ds))
	for _, s := range statuses {
		k := [2]string{s.Namespace, s.Pod}
		d, down := byPod[k]
		switch {
		case s.Connected:
		case down:
			s.DisconnectedSince = timePtr(d.Since.Truncate(time.Second))
			if s.Node == "" {
				s.Node = d.Node
			}
			delete(byPod, k)
		case elsewhere != nil && elsewhere(s.Namespace, s.Pod):
			continue
		}
		out = append(out, s)
	}
	for _, d := range ds {
		if _, ok := byPod[[2]string{d.Namespace, d.Pod}]; !ok {
			continue
		}
		since := metav1.NewTime(d.Since.Truncate(time.Second))
		out = append(out, &viewsv1a1.ProxyStatus{
			ObjectMeta:        metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Pod, CreationTimestamp: since},
			Gateway:           d.Gateway,
			Pod:               d.Pod,
			Node:              d.Node,
			DisconnectedSince: &since,
		})
	}
	return out
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewTime(t.Truncate(time.Second))
	return &m
}
