package apiserver

import (
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry/effectiveconfig"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry/proxystatus"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/viewstore"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// translationPartition is the EffectiveConfigs store partition of the translation pipeline.
const translationPartition = "translation"

// Views are what the operator publishes into and the aggregated API serves. The operator
// calls PublishEffectiveConfigs after every translation and PublishProxyStatuses whenever a
// proxy connects, acknowledges, rejects, beats or disconnects; both are level-triggered (pass
// the whole current set) and cheap when nothing changed. Read-only consumers may use the
// stores directly.
type Views struct {
	// EffectiveConfigs has one object per Gateway.
	EffectiveConfigs *effectiveconfig.Store
	// ProxyStatuses has one object per proxy pod, partitioned by the operator replica that
	// knows it.
	ProxyStatuses *proxystatus.Store

	mu   sync.Mutex
	base []*viewsv1a1.EffectiveConfig
	// configs are the proxy configs of the Gateways, for the explain subresource.
	configs atomic.Pointer[map[types.NamespacedName]*config.Config]
}

// PublishConfigs sets the proxy config of every Gateway (translate.GatewayResult.Config),
// which the explain subresource of effectiveconfigs reads. The configs are not copied: a
// translation result is never changed once made, and explaining only reads them. They hold
// secrets; nothing serves them as they are.
func (v *Views) PublishConfigs(configs map[types.NamespacedName]*config.Config) {
	v.configs.Store(&configs)
}

// Config returns the proxy config of a Gateway, nil when it has none.
func (v *Views) Config(namespace, name string) *config.Config {
	m := v.configs.Load()
	if m == nil {
		return nil
	}
	return (*m)[types.NamespacedName{Namespace: namespace, Name: name}]
}

// NewViews returns empty views.
func NewViews(opts ...viewstore.Option) *Views {
	return &Views{EffectiveConfigs: effectiveconfig.NewStore(opts...), ProxyStatuses: proxystatus.NewStore(opts...)}
}

// PublishEffectiveConfigs sets the EffectiveConfig of every Gateway: pass each
// translate.GatewayResult's Effective. Proxies (synced/total) is filled in here from the
// ProxyStatuses of all replicas, and kept current as they change. The objects are copied.
func (v *Views) PublishEffectiveConfigs(effs []*viewsv1a1.EffectiveConfig) {
	base := make([]*viewsv1a1.EffectiveConfig, len(effs))
	for i, e := range effs {
		base[i] = e.DeepCopy()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.base = base
	v.refreshLocked()
}

// PublishProxyStatuses sets every proxy a replica knows about. replica names the publisher
// (the operator pod's name): each replica publishes its own proxies, and the peer syncer
// publishes each other replica's under that replica's name. Callers may set
// CreationTimestamp to when the proxy first connected; otherwise it is when the view first saw
// it.
func (v *Views) PublishProxyStatuses(replica string, proxies []*viewsv1a1.ProxyStatus) {
	clean := make([]*viewsv1a1.ProxyStatus, len(proxies))
	for i, p := range proxies {
		clean[i] = p
		if p.LastError != "" {
			if r := redactError(p.LastError); r != p.LastError {
				clean[i] = p.DeepCopy()
				clean[i].LastError = r
			}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ProxyStatuses.Replace(replica, clean)
	v.refreshLocked()
}

// LocalProxyStatuses returns what replica published itself, for serving to its peers.
func (v *Views) LocalProxyStatuses(replica string) []*viewsv1a1.ProxyStatus {
	return v.ProxyStatuses.Partition(replica)
}

// refreshLocked recomputes proxy counts and republishes EffectiveConfigs; the store emits
// events only for Gateways whose counts (or anything else) changed.
func (v *Views) refreshLocked() {
	type counts struct{ total int32 }
	byGateway := map[types.NamespacedName]map[string]*counts{} // gateway -> acked version -> counts
	proxies, _ := v.ProxyStatuses.List("")
	for _, p := range proxies {
		if !p.Connected {
			continue
		}
		k := types.NamespacedName{Namespace: p.Namespace, Name: p.Gateway}
		if byGateway[k] == nil {
			byGateway[k] = map[string]*counts{}
		}
		c := byGateway[k][p.AckedVersion]
		if c == nil {
			c = &counts{}
			byGateway[k][p.AckedVersion] = c
		}
		c.total++
	}
	out := make([]*viewsv1a1.EffectiveConfig, len(v.base))
	for i, b := range v.base {
		// A shallow copy: base is never modified after PublishEffectiveConfigs copied it in,
		// so the store may share everything below the top level with it (ReplaceOwned).
		e := *b
		e.Proxies = viewsv1a1.ProxyCounts{}
		for version, c := range byGateway[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}] {
			e.Proxies.Total += c.total
			if version == e.Version && version != "" {
				e.Proxies.Synced += c.total
			}
		}
		out[i] = &e
	}
	v.EffectiveConfigs.ReplaceOwned(translationPartition, out)
}
