package status

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// Writer writes status. Create one per operator; Write is called by the leader after every
// translation.
type Writer struct {
	// Client writes the status subresource.
	Client client.Client
	// Reader reads current objects (the manager's cache).
	Reader client.Reader
	// ControllerName is ours; parents and ancestors of other controllers are kept.
	ControllerName gwv1.GatewayController
	// Programmed says whether a Gateway's proxies acknowledged a config reflecting
	// generation, and if not, why.
	Programmed func(gw types.NamespacedName, generation int64) (bool, string)
	// ServiceName names the Service whose load balancer addresses a Gateway reports.
	ServiceName func(gateway string) string
	// Now defaults to time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Workers bounds how many objects are written at once (default DefaultWorkers). Each
	// write is an apiserver round trip, so a thousand routes written one after another
	// take seconds; objects are independent, so their writes may overlap.
	Workers int
	// AttachedRoutesInterval spaces out the writes of a Gateway's status that would change
	// nothing but listeners' attachedRoutes: such a write waits until this long after the
	// Gateway's previous one (TakeDue says when), so routes added one after another do not
	// each cost a Gateway write (and the conflicts of writing one object back to back).
	// Conditions, addresses and everything else are written at once. Zero means
	// DefaultAttachedRoutesInterval; negative writes at once.
	AttachedRoutesInterval time.Duration
	// Writes, when set, counts status writes by kind and result (NewWritesCounter).
	Writes *prometheus.CounterVec

	heldMu      sync.Mutex
	lastGateway map[types.NamespacedName]time.Time // our last status write of each Gateway
	due         time.Time                          // the earliest held write, zero if none

	// upToDate remembers, per route, the status translation wanted and the cached
	// resourceVersion at which the route was last found with (or written with) that status.
	// While both stay the same a pass skips the route without merging and comparing its
	// status: a change to one route then costs the next pass a lookup per other route.
	// Replaced by each Write; only Write's route jobs use it.
	upToDate     map[translate.ObjectKey]routeSeen
	nextUpToDate map[translate.ObjectKey]routeSeen
	upToDateMu   sync.Mutex // guards nextUpToDate during a pass
}

// routeSeen is what upToDate holds for one route.
type routeSeen struct {
	resourceVersion string
	// writtenOver is the resourceVersion our write replaced ("" when the status was found
	// right, not written). A cache that still shows it has not seen our write yet; the
	// status is right all the same, and writing it again would only get a conflict.
	writtenOver string
	generation  int64
	parents     []gwv1.RouteParentStatus // as translation wanted them; never modified
}

// NewWritesCounter returns the counter of status writes that Writer.Writes takes.
func NewWritesCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgateway_status_writes_total",
		Help: "Status subresource updates the operator sent, by kind of object (Gateway, HTTPRoute, ...) and result: ok, conflict (the object changed since it was read; the next pass writes again) or error.",
	}, []string{"kind", "result"})
}

// countWrite counts one status update of obj that ended with err.
func (w *Writer) countWrite(obj client.Object, err error) {
	if w.Writes == nil {
		return
	}
	result := "ok"
	switch {
	case apierrors.IsConflict(err):
		result = "conflict"
	case err != nil:
		result = "error"
	}
	w.Writes.WithLabelValues(reflect.TypeOf(obj).Elem().Name(), result).Inc()
}

// DefaultAttachedRoutesInterval is the default for Writer.AttachedRoutesInterval.
const DefaultAttachedRoutesInterval = 250 * time.Millisecond

// DefaultWorkers is the default for Writer.Workers.
const DefaultWorkers = 16

// Write brings the status of every object in res up to date and returns how many objects
// it wrote. Objects that vanished from the cache are skipped; conflicts are returned so the
// caller retries with a fresh snapshot.
func (w *Writer) Write(ctx context.Context, res *translate.Result) (int, error) {
	now := w.now()
	jobs := make([]func() (bool, error), 0, len(res.GatewayClasses)+len(res.Gateways)+len(res.ListenerSets)+len(res.Routes)+len(res.Policies)+len(res.Backends))
	for i := range res.GatewayClasses {
		jobs = append(jobs, func() (bool, error) { return w.gatewayClass(ctx, &res.GatewayClasses[i], now) })
	}
	for i := range res.Gateways {
		jobs = append(jobs, func() (bool, error) { return w.gateway(ctx, &res.Gateways[i], now) })
	}
	for i := range res.ListenerSets {
		jobs = append(jobs, func() (bool, error) { return w.listenerSet(ctx, &res.ListenerSets[i], now) })
	}
	w.nextUpToDate = make(map[translate.ObjectKey]routeSeen, len(res.Routes))
	defer func() { w.upToDate, w.nextUpToDate = w.nextUpToDate, nil }()
	for i := range res.Routes {
		jobs = append(jobs, func() (bool, error) { return w.route(ctx, &res.Routes[i], now) })
	}
	for i := range res.Policies {
		jobs = append(jobs, func() (bool, error) { return w.policy(ctx, &res.Policies[i], now) })
	}
	for i := range res.Backends {
		jobs = append(jobs, func() (bool, error) { return w.backend(ctx, &res.Backends[i], now) })
	}
	for i := range res.XBackends {
		jobs = append(jobs, func() (bool, error) { return w.xbackend(ctx, &res.XBackends[i], now) })
	}
	return w.run(jobs)
}

// WriteGateways is Write for Gateways and ListenerSets only: the objects whose status
// depends on what proxies acknowledged (Programmed). When only that changed, it spares a
// pass over every route and policy.
func (w *Writer) WriteGateways(ctx context.Context, res *translate.Result) (int, error) {
	now := w.now()
	jobs := make([]func() (bool, error), 0, len(res.Gateways)+len(res.ListenerSets))
	for i := range res.Gateways {
		jobs = append(jobs, func() (bool, error) { return w.gateway(ctx, &res.Gateways[i], now) })
	}
	for i := range res.ListenerSets {
		jobs = append(jobs, func() (bool, error) { return w.listenerSet(ctx, &res.ListenerSets[i], now) })
	}
	return w.run(jobs)
}

// run runs jobs on up to Workers goroutines and returns how many wrote and every error
// other than NotFound (the object vanished from the cache: nothing to report on), in job
// order.
func (w *Writer) run(jobs []func() (bool, error)) (int, error) {
	workers := w.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	workers = min(workers, len(jobs))
	var written, next atomic.Int64
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				changed, err := jobs[i]()
				if changed {
					written.Add(1)
				}
				if err != nil && !apierrors.IsNotFound(err) {
					errs[i] = err
				}
			}
		}()
	}
	wg.Wait()
	return int(written.Load()), errors.Join(errs...)
}

// now is the transition time for changed conditions, in the second resolution the API keeps.
func (w *Writer) now() metav1.Time {
	if w.Now != nil {
		return metav1.NewTime(w.Now().Truncate(time.Second))
	}
	return metav1.NewTime(time.Now().Truncate(time.Second))
}

// update writes obj's status if build changed it. A status pass reads every object and
// most are already right, so obj is filled from the cache without a deep copy: build must
// only assign new values to obj's fields, never write into slices or maps they point to
// (those belong to the cache). Only an object whose status changed is copied, and the copy
// is written.
func (w *Writer) update(ctx context.Context, key types.NamespacedName, obj client.Object, status func(client.Object) any, build func()) (bool, error) {
	return w.updateWith(ctx, key, obj, status, build, updateHooks{})
}

// updateHooks adjust updateWith; every field is optional.
type updateHooks struct {
	// hold, given the status before and after build (as values), says not to write a
	// change now.
	hold func(before, after any) bool
	// skip, given the cached object, says its status is known to be right already.
	skip func(cached client.Object) bool
	// upToDate is told the resourceVersion at which the object's status is right: the
	// cached one when nothing needed writing (over is ""), the written one after a write
	// (over is the cached one it replaced).
	upToDate func(resourceVersion, over string)
}

// updateWith is update with hooks.
func (w *Writer) updateWith(ctx context.Context, key types.NamespacedName, obj client.Object, status func(client.Object) any, build func(), h updateHooks) (bool, error) {
	if err := w.Reader.Get(ctx, key, obj, client.UnsafeDisableDeepCopy); err != nil {
		return false, err
	}
	if h.skip != nil && h.skip(obj) {
		return false, nil
	}
	// A copy of the status struct itself: build replaces its fields, so this keeps the
	// cached values to compare with.
	before := reflect.ValueOf(status(obj)).Elem().Interface()
	build()
	after := reflect.ValueOf(status(obj)).Elem().Interface()
	if apiequality.Semantic.DeepEqual(before, after) {
		if h.upToDate != nil {
			h.upToDate(obj.GetResourceVersion(), "")
		}
		return false, nil
	}
	if h.hold != nil && h.hold(before, after) {
		return false, nil
	}
	out := obj.DeepCopyObject().(client.Object)
	err := w.Client.Status().Update(ctx, out)
	w.countWrite(obj, err)
	if err != nil {
		return false, fmt.Errorf("write status of %T %s: %w", obj, key, err)
	}
	if h.upToDate != nil {
		h.upToDate(out.GetResourceVersion(), obj.GetResourceVersion())
	}
	return true, nil
}

func (w *Writer) gatewayClass(ctx context.Context, r *translate.GatewayClassResult, now metav1.Time) (bool, error) {
	gc := &gwv1.GatewayClass{}
	return w.update(ctx, types.NamespacedName{Name: r.Name}, gc, func(o client.Object) any { return &o.(*gwv1.GatewayClass).Status }, func() {
		gc.Status.Conditions = mergeConditions(gc.Status.Conditions, r.Conditions, now)
		gc.Status.SupportedFeatures = r.SupportedFeatures
	})
}

func (w *Writer) gateway(ctx context.Context, r *translate.GatewayResult, now metav1.Time) (bool, error) {
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
	conds, listeners := r.Conditions, r.Listeners
	if ok, why := w.Programmed(key, r.Generation); !ok {
		conds = pending(conds, why)
		listeners = make([]gwv1.ListenerStatus, len(r.Listeners))
		for i, l := range r.Listeners {
			l.Conditions = pending(l.Conditions, why)
			listeners[i] = l
		}
	}
	gw := &gwv1.Gateway{}
	if err := w.Reader.Get(ctx, key, gw); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	assigned, unusable, err := w.addresses(ctx, gw)
	if err != nil {
		return false, err
	}
	addrs := assigned.addresses
	switch {
	case unusable != "":
		conds = addressNotProgrammed(conds, string(gwv1.GatewayReasonAddressNotUsable), unusable)
	case assigned.noneReason != "":
		conds = addressNotProgrammed(conds, string(gwv1.GatewayReasonAddressNotAssigned), assigned.noneReason)
	}
	if c := assigned.condition; c != nil {
		c.ObservedGeneration = r.Generation
		conds = append(slices.Clone(conds), *c)
	}
	hold := func(before, after any) bool {
		return onlyAttachedRoutes(before.(gwv1.GatewayStatus), after.(gwv1.GatewayStatus)) && w.holdGateway(key)
	}
	wrote, err := w.updateWith(ctx, key, gw, func(o client.Object) any { return &o.(*gwv1.Gateway).Status }, func() {
		gw.Status.Conditions = mergeConditions(gw.Status.Conditions, conds, now)
		old := map[gwv1.SectionName][]metav1.Condition{}
		for _, l := range gw.Status.Listeners {
			old[l.Name] = l.Conditions
		}
		ls := make([]gwv1.ListenerStatus, len(listeners))
		for i, l := range listeners {
			l.Conditions = mergeConditions(old[l.Name], l.Conditions, now)
			ls[i] = l
		}
		gw.Status.Listeners = ls
		gw.Status.Addresses = addrs
		gw.Status.AttachedListenerSets = ptr.To(r.AttachedListenerSets)
	}, updateHooks{hold: hold})
	if wrote {
		w.wroteGateway(key)
	}
	return wrote, err
}

// onlyAttachedRoutes reports whether two Gateway statuses differ in listeners'
// attachedRoutes and nothing else.
func onlyAttachedRoutes(a, b gwv1.GatewayStatus) bool {
	if len(a.Listeners) != len(b.Listeners) {
		return false
	}
	a.Listeners, b.Listeners = slices.Clone(a.Listeners), slices.Clone(b.Listeners)
	for i := range a.Listeners {
		a.Listeners[i].AttachedRoutes, b.Listeners[i].AttachedRoutes = 0, 0
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

func (w *Writer) clock() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Writer) attachedRoutesInterval() time.Duration {
	if w.AttachedRoutesInterval == 0 {
		return DefaultAttachedRoutesInterval
	}
	return w.AttachedRoutesInterval
}

// holdGateway reports whether a write of the Gateway's attachedRoutes must wait, because
// the previous write was less than the interval ago; it then records when it is due.
func (w *Writer) holdGateway(key types.NamespacedName) bool {
	interval := w.attachedRoutesInterval()
	if interval < 0 {
		return false
	}
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	last, ok := w.lastGateway[key]
	if !ok {
		return false
	}
	due := last.Add(interval)
	if !w.clock().Before(due) {
		return false
	}
	if w.due.IsZero() || due.Before(w.due) {
		w.due = due
	}
	return true
}

// wroteGateway notes a status write of the Gateway.
func (w *Writer) wroteGateway(key types.NamespacedName) {
	now := w.clock()
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	if w.lastGateway == nil {
		w.lastGateway = map[types.NamespacedName]time.Time{}
	}
	if len(w.lastGateway) >= 1024 {
		// Forget writes too old to hold anything (deleted Gateways among them).
		for k, t := range w.lastGateway {
			if now.Sub(t) >= w.attachedRoutesInterval() {
				delete(w.lastGateway, k)
			}
		}
	}
	w.lastGateway[key] = now
}

// TakeDue returns when the earliest write held back by AttachedRoutesInterval is due (zero
// if none) and forgets it: the caller writes the Gateways again then.
func (w *Writer) TakeDue() time.Time {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	due := w.due
	w.due = time.Time{}
	return due
}

// addresses matches the Gateway's spec.addresses to the proxy Service's addresses
// (assignAddresses); without a Service there is nothing to report yet. unusable explains,
// when non-empty, which static addresses of spec.addresses the load balancer did not assign.
func (w *Writer) addresses(ctx context.Context, gw *gwv1.Gateway) (out assignment, unusable string, err error) {
	svc := &corev1.Service{}
	if err := w.Reader.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: w.ServiceName(gw.Name)}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return assignment{}, "", nil
		}
		return assignment{}, "", fmt.Errorf("read proxy service of gateway %s/%s: %w", gw.Namespace, gw.Name, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		assigned := map[string]bool{}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			assigned[in.IP] = true
		}
		var missing []string
		for _, ip := range deployer.StaticIPs(gw) {
			if !assigned[ip] {
				missing = append(missing, ip)
			}
		}
		if len(missing) > 0 {
			unusable = fmt.Sprintf("the load balancer of Service %s did not assign %s (a LoadBalancer Service requests one address, spec.loadBalancerIP; check the load balancer's events for why)",
				svc.Name, strings.Join(missing, ", "))
		}
	}
	return assignAddresses(gw, svc), unusable, nil
}

func (w *Writer) listenerSet(ctx context.Context, r *translate.ListenerSetResult, now metav1.Time) (bool, error) {
	ls := &gwv1.ListenerSet{}
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
	return w.update(ctx, key, ls, func(o client.Object) any { return &o.(*gwv1.ListenerSet).Status }, func() {
		// A ListenerSet is programmed through its parent Gateway's proxies.
		conds, listeners := r.Conditions, r.Listeners
		{
			parent := ls.Spec.ParentRef
			pns := r.Namespace
			if parent.Namespace != nil {
				pns = string(*parent.Namespace)
			}
			if ok, why := w.gatewayProgrammed(ctx, types.NamespacedName{Namespace: pns, Name: string(parent.Name)}); !ok {
				conds = pending(conds, why)
				listeners = make([]gwv1.ListenerEntryStatus, len(r.Listeners))
				for i, l := range r.Listeners {
					l.Conditions = pending(l.Conditions, why)
					listeners[i] = l
				}
			}
		}
		ls.Status.Conditions = mergeConditions(ls.Status.Conditions, conds, now)
		old := map[gwv1.SectionName][]metav1.Condition{}
		for _, l := range ls.Status.Listeners {
			old[l.Name] = l.Conditions
		}
		out := make([]gwv1.ListenerEntryStatus, len(listeners))
		for i, l := range listeners {
			l.Conditions = mergeConditions(old[l.Name], l.Conditions, now)
			out[i] = l
		}
		ls.Status.Listeners = out
	})
}

// gatewayProgrammed asks Programmed about a Gateway at its cached generation.
func (w *Writer) gatewayProgrammed(ctx context.Context, key types.NamespacedName) (bool, string) {
	gw := &gwv1.Gateway{}
	if err := w.Reader.Get(ctx, key, gw); err != nil {
		return false, fmt.Sprintf("parent gateway %s: %v", key, err)
	}
	return w.Programmed(key, gw.Generation)
}

func (w *Writer) backend(ctx context.Context, r *translate.BackendResult, now metav1.Time) (bool, error) {
	b := &agwv1a1.AgentgatewayBackend{}
	return w.update(ctx, types.NamespacedName{Namespace: r.Namespace, Name: r.Name}, b, func(o client.Object) any { return &o.(*agwv1a1.AgentgatewayBackend).Status }, func() {
		b.Status.Conditions = mergeConditions(b.Status.Conditions, r.Conditions, now)
	})
}
