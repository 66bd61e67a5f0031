package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
)

// watchDisconnects finds, on every replica, the running proxy pods that hold no config
// stream to any replica for longer than grace (configserver.Disconnects, from a cache of the
// proxy pods only), tells cs's change listeners when that set changes (the views republish
// proxystatuses), and on the leader records ConfigStreamDisconnected Events on their
// Gateways (configserver.DisconnectEvents, at most once per pod every five minutes). It
// returns the current set.
func watchDisconnects(mgr manager.Manager, scheme *runtime.Scheme, cs *configserver.Server, grace time.Duration, log *slog.Logger) (func() []configserver.Disconnected, error) {
	sel := labels.SelectorFromSet(labels.Set{deployer.NameLabel: deployer.ProxyLabelValue})
	pods, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:           scheme,
		Mapper:           mgr.GetRESTMapper(),
		ByObject:         map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: sel}},
		DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("proxy pod cache: %w", err)
	}
	if err := mgr.Add(everyReplica(pods.Start)); err != nil {
		return nil, fmt.Errorf("add proxy pod cache: %w", err)
	}
	finder := &configserver.Disconnects{
		Pods:         pods,
		Selector:     client.MatchingLabels{deployer.NameLabel: deployer.ProxyLabelValue},
		GatewayLabel: deployer.GatewayNameLabel,
		Container:    deployer.ProxyContainer,
		Grace:        grace,
		Proxies: func() []configserver.ProxyState {
			all := cs.Proxies()
			if cs.RemoteProxies != nil {
				all = append(all, cs.RemoteProxies()...)
			}
			return all
		},
	}
	reporter := &configserver.DisconnectEvents{Recorder: mgr.GetEventRecorder("agentgateway"), Gateways: mgr.GetClient()}
	var cur atomic.Pointer[[]configserver.Disconnected]
	elected := mgr.Elected()
	// A pod crosses the grace period without any event: look a few times per period.
	every := min(max(finder.Grace/4, 250*time.Millisecond), 5*time.Second)
	if finder.Grace <= 0 {
		every = 5 * time.Second
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		if !pods.WaitForCacheSync(ctx) {
			return nil
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			ds, err := finder.Find(ctx)
			if err != nil {
				log.Error("find proxies without a config stream", "error", err)
			} else {
				prev := cur.Swap(&ds)
				var old []configserver.Disconnected
				if prev != nil {
					old = *prev
				}
				for _, gw := range changedGateways(old, ds) {
					cs.NotifyRemoteChange(gw)
				}
				select {
				case <-elected:
					reporter.Report(ctx, ds)
				default:
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})); err != nil {
		return nil, fmt.Errorf("add proxy stream watch: %w", err)
	}
	return func() []configserver.Disconnected {
		if p := cur.Load(); p != nil {
			return *p
		}
		return nil
	}, nil
}

// changedGateways are the Gateways whose disconnected pods differ between a and b.
func changedGateways(a, b []configserver.Disconnected) []types.NamespacedName {
	key := func(d configserver.Disconnected) types.NamespacedName {
		return types.NamespacedName{Namespace: d.Namespace, Name: d.Gateway}
	}
	var out []types.NamespacedName
	add := func(k types.NamespacedName) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, d := range a {
		if !slices.Contains(b, d) {
			add(key(d))
		}
	}
	for _, d := range b {
		if !slices.Contains(a, d) {
			add(key(d))
		}
	}
	return out
}
