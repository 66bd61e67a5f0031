package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/agentgateway/agentgateway-go/operator/apiserver"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/publish"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	agwwebhook "github.com/agentgateway/agentgateway-go/webhook"
)

// StandardHooks are the webhooks (with rotated certificates) and the views API as the
// operator binary runs them. The certificate rotator's readiness gates both the replica's
// readiness and the start of the views server, which needs the certificate files to exist.
func StandardHooks(o *Options, api *apiserver.Options) Hooks {
	certsReady := make(chan struct{})
	var h Hooks
	// Without rotated files, the views server generates a self-signed certificate here
	// (the working directory may be read-only in the pod).
	api.SecureServing.ServerCert.CertDirectory = o.CertDir
	if o.DisableWebhooks {
		close(certsReady)
	} else {
		h.Webhooks = func(mgr manager.Manager) error {
			ready, err := agwwebhook.AddCertRotator(mgr, agwwebhook.DefaultCertOptions(o.Namespace, o.CertDir))
			if err != nil {
				return err
			}
			go func() { <-ready; close(certsReady) }()
			if err := mgr.AddReadyzCheck("certificates", func(*http.Request) error {
				select {
				case <-certsReady:
					return nil
				default:
					return errors.New("serving certificate not written yet")
				}
			}); err != nil {
				return err
			}
			return agwwebhook.Register(mgr)
		}
		// Serve the views with the same rotated certificate the APIService's caBundle trusts.
		api.SecureServing.ServerCert.CertKey.CertFile = o.CertDir + "/tls.crt"
		api.SecureServing.ServerCert.CertKey.KeyFile = o.CertDir + "/tls.key"
	}
	h.AggregatedAPI = func(mgr manager.Manager, p Pipeline, bindAddr string) (func(*translate.Result), error) {
		if _, port, err := net.SplitHostPort(bindAddr); err == nil {
			if n, err := strconv.Atoi(port); err == nil {
				api.SecureServing.BindPort = n
			}
		}
		views := apiserver.NewViews()
		self := o.PodName
		if self == "" {
			self = "operator"
		}
		publishProxies := ProxyViews(views, self, p)
		p.ConfigServer.AddChangeListener(func(types.NamespacedName) { publishProxies() })
		if !o.DisableWebhooks && o.Namespace != "" {
			kc, err := kubernetes.NewForConfig(mgr.GetConfig())
			if err != nil {
				return nil, err
			}
			caFile := o.CertDir + "/ca.crt"
			if err := mgr.Add(everyReplica(func(ctx context.Context) error {
				select {
				case <-certsReady:
				case <-ctx.Done():
					return nil
				}
				client, err := apiserver.PeerClient(caFile, "agentgateway-api."+o.Namespace+".svc")
				if err != nil {
					return fmt.Errorf("views peer client: %w", err)
				}
				syncer := &apiserver.PeerSyncer{
					Views:    views,
					Self:     self,
					Discover: apiserver.EndpointSlicePeers(kc, o.Namespace, "agentgateway-api", "https-api"),
					Client:   client,
					Token:    apiserver.TokenFile("/var/run/secrets/kubernetes.io/serviceaccount/token"),
				}
				// Poll peers here rather than with syncer.Run, so that a change in what the
				// other replicas' proxies acknowledged re-triggers status: the leader only
				// hears about its own proxies' acks through the config server.
				seen := map[types.NamespacedName]string{}
				t := time.NewTicker(time.Second) // a proxy on the other replica is seen within a second
				defer t.Stop()
				for {
					syncer.SyncOnce(ctx)
					now := remoteAcks(p.ConfigServer.RemoteProxies())
					for gw, acks := range now {
						if seen[gw] != acks {
							p.ConfigServer.NotifyRemoteChange(gw)
						}
					}
					for gw := range seen {
						if _, ok := now[gw]; !ok {
							p.ConfigServer.NotifyRemoteChange(gw)
						}
					}
					seen = now
					select {
					case <-ctx.Done():
						return nil
					case <-t.C:
					}
				}
			})); err != nil {
				return nil, err
			}
		}
		if err := mgr.Add(everyReplica(func(ctx context.Context) error {
			select {
			case <-certsReady:
			case <-ctx.Done():
				return nil
			}
			if err := apiserver.Serve(ctx, api, views, self); err != nil && ctx.Err() == nil {
				return fmt.Errorf("views API: %w", err)
			}
			return nil
		})); err != nil {
			return nil, err
		}
		return func(res *translate.Result) {
			views.PublishEffectiveConfigs(publish.EffectiveConfigs(res))
			views.PublishConfigs(publish.Configs(res))
			publishProxies()
		}, nil
	}
	return h
}

// ProxyViews wires the proxystatuses of views to the running operator: it sets
// p.ConfigServer.RemoteProxies to the connected proxies the other replicas published (so
// the leader counts their acknowledgements), and returns the function that publishes this
// replica's proxies together with the running proxy pods that hold no stream anywhere
// (p.Disconnected). Call the function whenever the config server's proxies change.
func ProxyViews(views *apiserver.Views, self string, p Pipeline) func() {
	remote := func() []configserver.ProxyState {
		// Every other replica's own partition: the merged list would hide a proxy that moved
		// to another replica behind this replica's entry of its ended stream.
		var out []configserver.ProxyState
		seen := map[types.NamespacedName]bool{}
		for _, part := range views.ProxyStatuses.Partitions() {
			if part == self {
				continue
			}
			for _, ps := range views.ProxyStatuses.Partition(part) {
				k := types.NamespacedName{Namespace: ps.Namespace, Name: ps.Name}
				if !ps.Connected || seen[k] {
					continue
				}
				seen[k] = true
				out = append(out, configserver.ProxyState{
					Pod: ps.Pod, Namespace: ps.Namespace, Gateway: ps.Gateway, Connected: true,
					AckedVersion: ps.AckedVersion, RejectedVersion: ps.RejectedVersion, LastError: ps.LastError,
				})
			}
		}
		return out
	}
	p.ConfigServer.RemoteProxies = remote
	return func() {
		statuses := publish.ProxyStatuses(p.ConfigServer.Proxies(), nil)
		var ds []configserver.Disconnected
		if p.Disconnected != nil {
			ds = p.Disconnected()
		}
		elsewhere := map[types.NamespacedName]bool{}
		for _, r := range remote() {
			elsewhere[types.NamespacedName{Namespace: r.Namespace, Name: r.Pod}] = true
		}
		views.PublishProxyStatuses(self, publish.WithDisconnected(statuses, ds, func(ns, pod string) bool {
			return elsewhere[types.NamespacedName{Namespace: ns, Name: pod}]
		}))
	}
}

// remoteAcks summarizes, per Gateway, which remote proxies acknowledged which version, so a
// change is detected without comparing heartbeats.
func remoteAcks(ps []configserver.ProxyState) map[types.NamespacedName]string {
	out := map[types.NamespacedName]string{}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Namespace+"/"+ps[i].Pod < ps[j].Namespace+"/"+ps[j].Pod })
	for _, p := range ps {
		k := types.NamespacedName{Namespace: p.Namespace, Name: p.Gateway}
		out[k] += p.Pod + "=" + p.AckedVersion + "/" + p.RejectedVersion + ";"
	}
	return out
}
