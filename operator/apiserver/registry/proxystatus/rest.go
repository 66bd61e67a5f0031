// Package proxystatus serves proxystatuses.views.agentgateway.dev: one object per proxy pod
// known to the control plane (connected, recently disconnected, or running without a config
// stream past a grace period), read from the operator's view store.
package proxystatus

import (
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/registry"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/viewstore"
)

// Resource is the plural resource name.
const Resource = "proxystatuses"

// Store is the view store this resource reads.
type Store = viewstore.Store[*viewsv1a1.ProxyStatus]

// NewStore returns an empty store for ProxyStatuses.
func NewStore(opts ...viewstore.Option) *Store {
	return viewstore.New(func() *viewsv1a1.ProxyStatus { return &viewsv1a1.ProxyStatus{} }, opts...)
}

// REST serves ProxyStatuses read-only.
type REST struct {
	registry.ReadOnly[*viewsv1a1.ProxyStatus, *viewsv1a1.ProxyStatusList]
	now func() time.Time
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
var SelectableFields = []string{"gateway", "pod", "node", "connected"}

// NewREST returns the REST type for a store.
func NewREST(s *Store) *REST {
	r := &REST{now: time.Now}
	r.ReadOnly = registry.ReadOnly[*viewsv1a1.ProxyStatus, *viewsv1a1.ProxyStatusList]{
		Store: s,
		Res: registry.Resource[*viewsv1a1.ProxyStatus, *viewsv1a1.ProxyStatusList]{
			GroupResource: viewsv1a1.Resource(Resource),
			Singular:      "proxystatus",
			Short:         []string{"agps"},
			NewObj:        func() *viewsv1a1.ProxyStatus { return &viewsv1a1.ProxyStatus{} },
			NewList:       func() *viewsv1a1.ProxyStatusList { return &viewsv1a1.ProxyStatusList{} },
			SetItems: func(l *viewsv1a1.ProxyStatusList, items []*viewsv1a1.ProxyStatus) {
				l.Items = make([]viewsv1a1.ProxyStatus, len(items))
				for i, o := range items {
					l.Items[i] = *o
				}
			},
			Fields: func(o *viewsv1a1.ProxyStatus) fields.Set {
				return fields.Set{
					"gateway":   o.Gateway,
					"pod":       o.Pod,
					"node":      o.Node,
					"connected": strconv.FormatBool(o.Connected),
				}
			},
			Columns: columns,
			Cells:   r.cells,
		},
	}
	return r
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the proxy pod."},
	{Name: "Gateway", Type: "string", Description: "Gateway the proxy serves."},
	{Name: "Connected", Type: "boolean", Description: "Whether the proxy holds a config stream."},
	{Name: "Disconnected", Type: "string", Description: "Time since the proxy lost its config stream, or since its pod started running without one."},
	{Name: "Version", Type: "string", Description: "Config version the proxy applied."},
	{Name: "Synced", Type: "boolean", Description: "Whether the applied version is the Gateway's latest."},
	{Name: "Last-Error", Type: "string", Description: "Why the proxy refused its last rejected version."},
	{Name: "Age", Type: "string", Description: "Time since the proxy connected."},
	{Name: "Node", Type: "string", Priority: 1, Description: "Node of the proxy pod."},
	{Name: "Rejected", Type: "string", Priority: 1, Description: "Last config version the proxy refused."},
	{Name: "Heartbeat", Type: "string", Priority: 1, Description: "Time since the last message from the proxy."},
	{Name: "Build", Type: "string", Priority: 1, Description: "Build version of the proxy."},
}

// maxErrorWidth keeps a long rejection message from taking over the table; -o yaml has it all.
const maxErrorWidth = 60

func (r *REST) cells(o *viewsv1a1.ProxyStatus, age string) []any {
	lastErr := o.LastError
	if n := len([]rune(lastErr)); n > maxErrorWidth {
		lastErr = string([]rune(lastErr)[:maxErrorWidth-3]) + "..."
	}
	heartbeat := "<none>"
	if o.LastHeartbeat != nil {
		heartbeat = duration.HumanDuration(r.now().Sub(o.LastHeartbeat.Time))
	}
	disconnected := "<none>"
	if !o.Connected && o.DisconnectedSince != nil {
		disconnected = duration.HumanDuration(r.now().Sub(o.DisconnectedSince.Time))
	}
	return []any{
		o.Gateway,
		o.Connected,
		disconnected,
		o.AckedVersion,
		Synced(o),
		lastErr,
		age,
		o.Node,
		o.RejectedVersion,
		heartbeat,
		o.BuildVersion,
	}
}

// Synced says whether a proxy runs its Gateway's latest config.
func Synced(o *viewsv1a1.ProxyStatus) bool {
	return o.Connected && o.AckedVersion != "" && o.AckedVersion == o.LatestVersion
}
