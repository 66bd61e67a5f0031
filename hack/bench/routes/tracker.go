package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// controllerName is the agentgateway operator's GatewayClass controllerName: only its
// route parent entries count as "accepted".
const controllerName = "agentgateway.dev/agentgateway"

// tracker follows the benchmark namespace's HTTPRoutes and its Gateway through informers,
// so the driver can wait on status without polling the apiserver, and counts status writes:
// updates that change the resourceVersion but keep metadata.generation (the spec is
// unchanged, so the status subresource was written).
type tracker struct {
	gateway string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	st      trackerState
}

// trackerState is what the driver waits on; it is copied out under the lock.
type trackerState struct {
	// routes maps a route name to whether our controller accepted it at its generation;
	// nAccepted counts the true ones.
	routes    map[string]bool
	nAccepted int
	// attached is the sum of status.listeners[].attachedRoutes of the Gateway.
	attached int32
	// programmed: the Gateway's Programmed condition is True for its generation.
	programmed bool
	address    string
	// Status writes seen since the tracker started.
	routeStatusWrites, gatewayStatusWrites int
}

// setRoute records whether route name is accepted; gone removes it.
func (s *trackerState) setRoute(name string, accepted, gone bool) {
	if s.routes[name] {
		s.nAccepted--
	}
	if gone {
		delete(s.routes, name)
		return
	}
	s.routes[name] = accepted
	if accepted {
		s.nAccepted++
	}
}

// startTracker starts informers for HTTPRoutes and Gateways in ns and returns once they
// are synced.
func startTracker(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, ns, gateway string) (*tracker, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, fmt.Errorf("informer cache: %w", err)
	}
	t := &tracker{gateway: gateway, changed: make(chan struct{}), st: trackerState{routes: map[string]bool{}}}
	ri, err := c.GetInformer(ctx, &gwv1.HTTPRoute{})
	if err != nil {
		return nil, fmt.Errorf("httproute informer: %w", err)
	}
	if _, err := ri.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.route(nil, o.(*gwv1.HTTPRoute)) },
		UpdateFunc: func(o, n any) { t.route(o.(*gwv1.HTTPRoute), n.(*gwv1.HTTPRoute)) },
		DeleteFunc: func(o any) {
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if r, ok := o.(*gwv1.HTTPRoute); ok {
				t.update(func(s *trackerState) { s.setRoute(r.Name, false, true) })
			}
		},
	}); err != nil {
		return nil, err
	}
	gi, err := c.GetInformer(ctx, &gwv1.Gateway{})
	if err != nil {
		return nil, fmt.Errorf("gateway informer: %w", err)
	}
	if _, err := gi.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.gatewayChanged(nil, o.(*gwv1.Gateway)) },
		UpdateFunc: func(o, n any) { t.gatewayChanged(o.(*gwv1.Gateway), n.(*gwv1.Gateway)) },
	}); err != nil {
		return nil, err
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf("informer cache stopped: %v", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("informers did not sync: %w", ctx.Err())
	}
	return t, nil
}

func (t *tracker) update(f func(s *trackerState)) {
	t.mu.Lock()
	f(&t.st)
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// statusWrite says whether old -> new was a write of status only.
func statusWrite(oldGen, newGen int64, oldRV, newRV string) bool {
	return oldRV != newRV && oldGen == newGen
}

func (t *tracker) route(old, r *gwv1.HTTPRoute) {
	acc := routeAccepted(r, t.gateway)
	t.update(func(s *trackerState) {
		if old != nil && statusWrite(old.Generation, r.Generation, old.ResourceVersion, r.ResourceVersion) {
			s.routeStatusWrites++
		}
		s.setRoute(r.Name, acc, false)
	})
}

// routeAccepted: our controller's parent entry for gateway says Accepted=True for the
// route's current generation.
func routeAccepted(r *gwv1.HTTPRoute, gateway string) bool {
	for _, p := range r.Status.Parents {
		if p.ControllerName != controllerName || string(p.ParentRef.Name) != gateway {
			continue
		}
		c := meta.FindStatusCondition(p.Conditions, string(gwv1.RouteConditionAccepted))
		if c != nil && c.Status == "True" && c.ObservedGeneration >= r.Generation {
			return true
		}
	}
	return false
}

func (t *tracker) gatewayChanged(old, g *gwv1.Gateway) {
	if g.Name != t.gateway {
		return
	}
	var attached int32
	for _, l := range g.Status.Listeners {
		attached += l.AttachedRoutes
	}
	c := meta.FindStatusCondition(g.Status.Conditions, string(gwv1.GatewayConditionProgrammed))
	programmed := c != nil && c.Status == "True" && c.ObservedGeneration >= g.Generation
	addr := ""
	if len(g.Status.Addresses) > 0 {
		addr = g.Status.Addresses[0].Value
	}
	t.update(func(s *trackerState) {
		if old != nil && statusWrite(old.Generation, g.Generation, old.ResourceVersion, g.ResourceVersion) {
			s.gatewayStatusWrites++
		}
		s.attached, s.programmed, s.address = attached, programmed, addr
	})
}

// state returns a copy of the current state without the route map.
func (t *tracker) state() trackerState {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.st
	s.routes = nil
	return s
}

// wait blocks until cond holds for the current state or ctx ends. cond runs under the
// tracker's lock: it must be quick and must not keep s.routes.
func (t *tracker) wait(ctx context.Context, cond func(s *trackerState) bool) error {
	for {
		t.mu.Lock()
		ok := cond(&t.st)
		ch := t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// quiet waits until no event arrived for d (bounded by ctx), so counters have settled.
func (t *tracker) quiet(ctx context.Context, d time.Duration) {
	for {
		t.mu.Lock()
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-time.After(d):
			return
		}
	}
}
