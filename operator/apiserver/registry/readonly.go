// Package registry holds what the read-only view resources share: get, list and watch over a
// viewstore.Store with label and field selectors, and table conversion from per-resource
// columns. Each resource (registry/effectiveconfig, registry/proxystatus) is a small REST type
// that embeds ReadOnly and says which fields it can be selected by and how it prints.
package registry

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metatable "k8s.io/apimachinery/pkg/api/meta/table"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/agentgateway/agentgateway-go/operator/apiserver/viewstore"
)

// Category is the kubectl category of every view: `kubectl get agentgateway`.
const Category = "agentgateway"

// BookmarkInterval is how often a quiet watch that asked for bookmarks receives one.
const BookmarkInterval = time.Minute

// Resource describes one view resource for ReadOnly.
type Resource[T viewstore.Object, L runtime.Object] struct {
	// GroupResource for errors.
	GroupResource schema.GroupResource
	// Singular name, for kubectl and discovery.
	Singular string
	// Short names for kubectl.
	Short []string
	// NewObj and NewList return empty objects.
	NewObj  func() T
	NewList func() L
	// SetItems fills a list.
	SetItems func(list L, items []T)
	// Fields returns the fields an object can be selected by, beyond metadata.name and
	// metadata.namespace. Register the same names as field label conversions in the scheme.
	Fields func(T) fields.Set
	// Columns of the table; those with Priority 1 show only with -o wide.
	Columns []metav1.TableColumnDefinition
	// Cells returns the cells of one row after NAME, which ReadOnly fills; age is the object's
	// age as kubectl prints it.
	Cells func(o T, age string) []any
}

// ReadOnly serves get, list, watch and tables for one view resource from a Store.
type ReadOnly[T viewstore.Object, L runtime.Object] struct {
	Store *viewstore.Store[T]
	Res   Resource[T, L]
}

// New returns an empty object.
func (r *ReadOnly[T, L]) New() runtime.Object { return r.Res.NewObj() }

// NewList returns an empty list.
func (r *ReadOnly[T, L]) NewList() runtime.Object { return r.Res.NewList() }

// Destroy has nothing to release: the store belongs to the operator.
func (r *ReadOnly[T, L]) Destroy() {}

// NamespaceScoped is true: every view lives in the namespace of what it describes.
func (r *ReadOnly[T, L]) NamespaceScoped() bool { return true }

// GetSingularName returns the singular resource name.
func (r *ReadOnly[T, L]) GetSingularName() string { return r.Res.Singular }

// ShortNames returns the kubectl short names.
func (r *ReadOnly[T, L]) ShortNames() []string { return r.Res.Short }

// Categories puts every view in the agentgateway category.
func (r *ReadOnly[T, L]) Categories() []string { return []string{Category} }

// Get returns one object of the request's namespace.
func (r *ReadOnly[T, L]) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	o, ok := r.Store.Get(ns, name)
	if !ok {
		return nil, apierrors.NewNotFound(r.Res.GroupResource, name)
	}
	return o.DeepCopyObject(), nil
}

// List returns the objects of the request's namespace (all for a cluster-wide request) that
// match the label and field selectors.
func (r *ReadOnly[T, L]) List(ctx context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	items, rv := r.Store.List(ns)
	if opts != nil && opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact && opts.ResourceVersion != rv {
		return nil, apierrors.NewResourceExpired("this server keeps only its current state: list without resourceVersionMatch=Exact")
	}
	match := r.matcher(opts)
	out := make([]T, 0, len(items))
	for _, o := range items {
		if match(o) {
			out = append(out, o.DeepCopyObject().(T))
		}
	}
	list := r.Res.NewList()
	r.Res.SetItems(list, out)
	if lm, err := meta.ListAccessor(list); err == nil {
		lm.SetResourceVersion(rv)
	}
	return list, nil
}

// Watch streams changes. It follows the apiserver's resourceVersion semantics: with
// sendInitialEvents=true (client-go's WatchList) the current state comes as ADDED events and
// then a bookmark annotated k8s.io/initial-events-end; without a resourceVersion (or "0") the
// current state comes as ADDED events; with a resourceVersion the changes after it are
// replayed, or 410 Gone tells the client to list again.
func (r *ReadOnly[T, L]) Watch(ctx context.Context, opts *metainternalversion.ListOptions) (watch.Interface, error) {
	if opts == nil {
		opts = &metainternalversion.ListOptions{}
	}
	wo := viewstore.WatchOptions[T]{
		Namespace: genericapirequest.NamespaceValue(ctx),
		Filter:    r.matcher(opts),
	}
	if opts.AllowWatchBookmarks {
		wo.BookmarkInterval = BookmarkInterval
	}
	rv := opts.ResourceVersion
	switch {
	case opts.SendInitialEvents != nil && *opts.SendInitialEvents:
		wo.InitialEvents = true
		wo.InitialEventsEndBookmark = opts.AllowWatchBookmarks
	case opts.SendInitialEvents == nil && (rv == "" || rv == "0"):
		wo.InitialEvents = true
	case rv != "0":
		// "0" with sendInitialEvents=false means "start at any state": now.
		wo.ResourceVersion = rv
	}
	w, err := r.Store.Watch(wo)
	var expired *viewstore.ExpiredError
	if errors.As(err, &expired) {
		return nil, apierrors.NewResourceExpired(expired.Error())
	}
	return w, err
}

func (r *ReadOnly[T, L]) matcher(opts *metainternalversion.ListOptions) func(T) bool {
	label, field := labels.Everything(), fields.Everything()
	if opts != nil && opts.LabelSelector != nil {
		label = opts.LabelSelector
	}
	if opts != nil && opts.FieldSelector != nil {
		field = opts.FieldSelector
	}
	if label.Empty() && field.Empty() {
		return func(T) bool { return true }
	}
	return func(o T) bool {
		if !label.Matches(labels.Set(o.GetLabels())) {
			return false
		}
		if field.Empty() {
			return true
		}
		return field.Matches(r.FieldSet(o))
	}
}

// FieldSet returns every field an object can be selected by.
func (r *ReadOnly[T, L]) FieldSet(o T) fields.Set {
	set := fields.Set{}
	if r.Res.Fields != nil {
		set = r.Res.Fields(o)
	}
	return generic.MergeFieldsSets(set, fields.Set{
		"metadata.name":      o.GetName(),
		"metadata.namespace": o.GetNamespace(),
	})
}

// ConvertToTable prints objects or lists with the resource's columns.
func (r *ReadOnly[T, L]) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: r.Res.Columns}
	if m, err := meta.ListAccessor(object); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(object); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	rows, err := metatable.MetaToTableRow(object, func(obj runtime.Object, _ metav1.Object, name, age string) ([]any, error) {
		o, ok := obj.(T)
		if !ok {
			return nil, apierrors.NewInternalError(errors.New("unexpected object type in table conversion"))
		}
		return append([]any{name}, r.Res.Cells(o, age)...), nil
	})
	if err != nil {
		return nil, err
	}
	table.Rows = rows
	if opt, ok := tableOptions.(*metav1.TableOptions); ok && opt != nil && opt.NoHeaders {
		table.ColumnDefinitions = nil
	}
	return table, nil
}
