// Package effectiveconfig serves effectiveconfigs.views.agentgateway.dev: one object per
// Gateway with what its proxies run, read from the operator's view store.
package effectiveconfig

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/registry/rest"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/viewstore"
)

// Resource is the plural resource name.
const Resource = "effectiveconfigs"

// Store is the view store this resource reads.
type Store = viewstore.Store[*viewsv1a1.EffectiveConfig]

// NewStore returns an empty store for EffectiveConfigs. Its watch history holds at most
// HistoryBudget listeners and routes in all (see weight), so that a large Gateway changed once
// per route does not keep a copy of itself per change: with 1000 routes, about 30 changes
// back; with 30, the whole default history.
func NewStore(opts ...viewstore.Option) *Store {
	opts = append([]viewstore.Option{viewstore.WithHistoryBudget(HistoryBudget, weight)}, opts...)
	return viewstore.New(func() *viewsv1a1.EffectiveConfig { return &viewsv1a1.EffectiveConfig{} }, opts...)
}

// HistoryBudget bounds the listeners and routes of the EffectiveConfigs kept for resuming
// watches (about 250 bytes each).
const HistoryBudget = 32 << 10

// weight is an EffectiveConfig's size in listeners and routes.
func weight(obj any) int {
	ec, ok := obj.(*viewsv1a1.EffectiveConfig)
	if !ok {
		return 1
	}
	w := 1
	for i := range ec.Listeners {
		w += 1 + len(ec.Listeners[i].Routes)
	}
	return w
}

// REST serves EffectiveConfigs read-only.
type REST struct {
	registry.ReadOnly[*viewsv1a1.EffectiveConfig, *viewsv1a1.EffectiveConfigList]
}

var (
	_ rest.Storage              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.TableConvertor       = &REST{}
	_ rest.ShortNamesProvider   = &REST{}
	_ rest.CategoriesProvider   = &REST{}
)

// SelectableFields are the field selector names beyond metadata.name and metadata.namespace.
var SelectableFields = []string{"gatewayClassName", "version"}

// NewREST returns the REST type for a store.
func NewREST(s *Store) *REST {
	return &REST{registry.ReadOnly[*viewsv1a1.EffectiveConfig, *viewsv1a1.EffectiveConfigList]{
		Store: s,
		Res: registry.Resource[*viewsv1a1.EffectiveConfig, *viewsv1a1.EffectiveConfigList]{
			GroupResource: viewsv1a1.Resource(Resource),
			Singular:      "effectiveconfig",
			Short:         []string{"agec"},
			NewObj:        func() *viewsv1a1.EffectiveConfig { return &viewsv1a1.EffectiveConfig{} },
			NewList:       func() *viewsv1a1.EffectiveConfigList { return &viewsv1a1.EffectiveConfigList{} },
			SetItems: func(l *viewsv1a1.EffectiveConfigList, items []*viewsv1a1.EffectiveConfig) {
				l.Items = make([]viewsv1a1.EffectiveConfig, len(items))
				for i, o := range items {
					l.Items[i] = *o
				}
			},
			Fields: func(o *viewsv1a1.EffectiveConfig) fields.Set {
				return fields.Set{"gatewayClassName": o.GatewayClassName, "version": o.Version}
			},
			Columns: columns,
			Cells:   cells,
		},
	}}
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the Gateway."},
	{Name: "Gateway-Class", Type: "string", Description: "GatewayClass of the Gateway."},
	{Name: "Listeners", Type: "integer", Description: "Listeners the proxies bind."},
	{Name: "Routes", Type: "integer", Description: "Distinct routes attached to any listener."},
	{Name: "Policies", Type: "integer", Description: "Distinct policies contributing to any route."},
	{Name: "Version", Type: "string", Description: "Configuration version sent to the proxies."},
	{Name: "Proxies", Type: "string", Description: "Connected proxies running Version / all connected proxies."},
	{Name: "Age", Type: "string", Description: "Age of the Gateway."},
	{Name: "Ports", Type: "string", Priority: 1, Description: "Listener ports and protocols."},
	{Name: "Backends", Type: "integer", Priority: 1, Description: "Backend references over all route rules."},
	{Name: "Backend-Errors", Type: "integer", Priority: 1, Description: "Backend references that are invalid (their share gets 500)."},
}

func cells(o *viewsv1a1.EffectiveConfig, age string) []any {
	routes, policies := map[string]bool{}, map[string]bool{}
	var ports []string
	backends, backendErrors := 0, 0
	for _, l := range o.Listeners {
		ports = append(ports, fmt.Sprintf("%d/%s", l.Port, l.Protocol))
		for _, r := range l.Routes {
			routes[r.Kind+"/"+r.Namespace+"/"+r.Name] = true
			for _, p := range r.Policies {
				policies[policySource(p.Source)] = true
			}
			for _, b := range r.Backends {
				backends++
				if b.Error != "" {
					backendErrors++
				}
			}
		}
	}
	sort.Strings(ports)
	return []any{
		o.GatewayClassName,
		int64(len(o.Listeners)),
		int64(len(routes)),
		int64(len(policies)),
		o.Version,
		fmt.Sprintf("%d/%d", o.Proxies.Synced, o.Proxies.Total),
		age,
		strings.Join(compact(ports), ","),
		int64(backends),
		int64(backendErrors),
	}
}

// policySource drops the attachment level that follows the policy name ("ns/name (Route)").
func policySource(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
