// Package publish converts what the operator pipeline produces into the views the aggregated
// API serves, so that the wiring in the operator's main loop is two calls:
//
//	views.PublishEffectiveConfigs(publish.EffectiveConfigs(result))          // after every translation
//	views.PublishProxyStatuses(podName, publish.ProxyStatuses(cs.Proxies(), nil)) // on configserver OnChange and every few seconds
//
// It is kept apart from package apiserver so the server does not depend on the pipeline.
package publish

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/translate"
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
			Gateway:         s.Gateway,
			Pod:             s.Pod,
			Connected:       s.Connected,
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

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewTime(t.Truncate(time.Second))
	return &m
}
