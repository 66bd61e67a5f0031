package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// bench holds what the phases share.
type bench struct {
	o options
	c client.Client
	t *tracker
	p *prober
	// rc reaches the apiserver's own /metrics (nil skips them).
	rc rest.Interface
}

// operatorCounters are the operator metrics sampled around a phase (from the leader,
// which does every step including status; they include other namespaces' work).
var operatorCounters = []string{
	"agentgateway_reconciles_total",
	"agentgateway_reconcile_seconds_sum",
	"agentgateway_reconcile_seconds_count",
	"agentgateway_reconcile_step_seconds_sum",
	"agentgateway_translate_seconds_sum",
	"agentgateway_status_writes_total",
	"agentgateway_xds_pushes_total",
	"agentgateway_xds_delta_pushes_total",
	"agentgateway_xds_push_bytes_total",
	"agentgateway_xds_snapshot_changes_total",
	"agentgateway_translate_route_pieces_total",
}

// waitGateway waits until the Gateway is Programmed with an address and its listener
// answers (404: no route yet).
func (b *bench) waitGateway(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := b.t.wait(wctx, func(s *trackerState) bool { return s.programmed && s.address != "" }); err != nil {
		return fmt.Errorf("gateway %s/%s not Programmed with an address: %w", b.o.namespace, b.o.gateway, err)
	}
	addr := b.t.state().address
	b.p = newProber(net.JoinHostPort(addr, "80"), 2*b.o.createWorkers)
	logf("gateway %s/%s programmed at %s; waiting for its listener", b.o.namespace, b.o.gateway, addr)
	for {
		a := b.p.get(wctx, "none.example.com", "/", false)
		if a.code == 404 {
			break
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("gateway listener %s never answered 404 for an unknown host (last: code %d, %v)", addr, a.code, a.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return b.t.wait(wctx, func(s *trackerState) bool { return s.attached == 0 })
}

// propagation adds routes 1..N one at a time and times each from Create to its first 200.
func (b *bench) propagation(ctx context.Context, r *report) error {
	logf("propagation: adding %d routes one at a time (load %s)", b.o.routes, loadavg())
	before := b.t.state()
	mBefore := b.operatorMetrics(ctx)
	putsBefore := b.statusPuts(ctx)
	cpuBefore := b.sampleCPU(ctx)
	start := time.Now()
	lastLog := start
	r.propagation = make([]time.Duration, 0, b.o.routes)
	r.probeInterval = b.o.probeInterval
	for i := 1; i <= b.o.routes; i++ {
		t0 := time.Now()
		if err := b.c.Create(ctx, route(b.o.namespace, b.o.gateway, i, backends[0])); err != nil {
			return fmt.Errorf("create route %d: %w", i, err)
		}
		created := time.Since(t0)
		deadline := t0.Add(b.o.routeTimeout)
		host, path := routeHost(i), routePath(i)
		for {
			a := b.p.get(ctx, host, path, false)
			r.propagationProbes.add(a)
			if a.code == 200 {
				r.propagation = append(r.propagation, a.end.Sub(t0))
				r.creates = append(r.creates, created)
				r.afterCreate = append(r.afterCreate, a.end.Sub(t0)-created)
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				r.propagationTimeouts++
				r.propagation = append(r.propagation, b.o.routeTimeout)
				logf("propagation: route %d did not answer 200 within %s (last: code %d, %v)", i, b.o.routeTimeout, a.code, a.err)
				break
			}
			if a.code == 0 {
				time.Sleep(time.Millisecond) // connection refused or similar: do not spin
			} else if d := b.o.probeInterval - time.Since(a.start); d > 0 {
				time.Sleep(d)
			}
		}
		if i == b.o.routes || time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			logf("propagation: %d/%d routes, %s (load %s)", i, b.o.routes, summarize(r.propagation), loadavg())
		}
	}
	r.propagationWall = time.Since(start)
	r.propagationCPU = cpuUse(cpuBefore, b.sampleCPU(ctx), r.propagationWall)
	after := b.t.state()
	r.propagationStatusWrites = (after.routeStatusWrites - before.routeStatusWrites) + (after.gatewayStatusWrites - before.gatewayStatusWrites)
	r.propagationOperator = diff(mBefore, b.operatorMetrics(ctx))
	r.propagationPuts = diff(putsBefore, b.statusPuts(ctx))
	return nil
}

// served is the latest answer of the flip client that named a pod.
type served struct {
	end     time.Time
	backend string
}

// flip moves route 1 between the two backends while a client sends back-to-back
// requests; every answer other than 200 is an error. Each flip waits until the client
// sees the new backend, so every flip is a real change on the proxy.
func (b *bench) flip(ctx context.Context, r *report) error {
	if b.o.flips == 0 {
		return nil
	}
	logf("flip: moving route 1 between %s and %s %d times under back-to-back requests", backends[0], backends[1], b.o.flips)
	host, path := routeHost(1), routePath(1)
	var latest atomic.Pointer[served]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var probes tally
	perBackend := map[string]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			a := b.p.get(ctx, host, path, true)
			if ctx.Err() != nil {
				return
			}
			probes.add(a)
			if a.code != 200 {
				r.flipErrorSamples = appendSample(r.flipErrorSamples, a)
				continue
			}
			be := backendOf(a.pod)
			perBackend[be]++
			latest.Store(&served{end: a.end, backend: be})
		}
	}()
	start := time.Now()
	lastLog := start
	var err error
	for k := 1; k <= b.o.flips && err == nil; k++ {
		want := backends[k%2]
		t0 := time.Now()
		if err = b.setBackend(ctx, want); err != nil {
			break
		}
		deadline := t0.Add(b.o.routeTimeout)
		for {
			if s := latest.Load(); s != nil && s.end.After(t0) && s.backend == want {
				r.flipLatency = append(r.flipLatency, s.end.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				r.flipsUnseen++
				break
			}
			if err = ctx.Err(); err != nil {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		if k == b.o.flips || time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			logf("flip: %d/%d, visible after %s", k, b.o.flips, summarize(r.flipLatency))
		}
	}
	close(stop)
	wg.Wait()
	r.flipWall = time.Since(start)
	r.flipProbes, r.flipBackends = probes, perBackend
	if err != nil {
		return fmt.Errorf("flip: %w", err)
	}
	// Leave route 1 where the other routes point.
	return b.setBackend(ctx, backends[0])
}

// appendSample keeps the first few failed answers for the report.
func appendSample(s []answer, a answer) []answer {
	if len(s) < 5 {
		return append(s, a)
	}
	return s
}

// backendOf maps an echo pod name to its Deployment (echo-a-<hash>-<id> -> echo-a).
func backendOf(pod string) string {
	for _, be := range backends {
		if strings.HasPrefix(pod, be+"-") {
			return be
		}
	}
	if pod == "" {
		return "(no pod in answer)"
	}
	return pod
}

// setBackend points route 1 at backend with a merge patch of its rules.
func (b *bench) setBackend(ctx context.Context, backend string) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"rules": routeRules(1, backend)}})
	if err != nil {
		return err
	}
	obj := &gwv1.HTTPRoute{}
	obj.Namespace, obj.Name = b.o.namespace, routeName(1)
	if err := b.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patch route 1 to %s: %w", backend, err)
	}
	return nil
}

// deleteEach deletes routes 1..N, createWorkers at a time.
func (b *bench) deleteEach(ctx context.Context) error {
	return b.each(ctx, func(i int) error {
		rt := &gwv1.HTTPRoute{}
		rt.Namespace, rt.Name = b.o.namespace, routeName(i)
		return client.IgnoreNotFound(b.c.Delete(ctx, rt))
	})
}

// deleteRoutes deletes every benchmark route in one call.
func (b *bench) deleteRoutes(ctx context.Context) error {
	err := b.c.DeleteAllOf(ctx, &gwv1.HTTPRoute{}, client.InNamespace(b.o.namespace), client.MatchingLabels{routeLabel: "true"})
	if err != nil {
		return fmt.Errorf("delete routes: %w", err)
	}
	return nil
}

// teardown deletes all routes and times it until the Gateway reports 0 attached and
// every route's host answers 404.
func (b *bench) teardown(ctx context.Context, r *report) (time.Duration, error) {
	logf("teardown: deleting %d routes with %d concurrent deletes", b.o.routes, b.o.createWorkers)
	cpuBefore := b.sampleCPU(ctx)
	t0 := time.Now()
	// One delete per route, concurrently: a deletecollection is served one item at a time
	// by the apiserver (--delete-collection-workers=1), which would time the apiserver.
	if err := b.deleteEach(ctx); err != nil {
		return 0, fmt.Errorf("teardown: %w", err)
	}
	deletes := time.Since(t0)
	var detached time.Duration
	done := make(chan error, 1)
	go func() {
		err := b.t.wait(ctx, func(s *trackerState) bool { return s.attached == 0 && len(s.routes) == 0 })
		detached = time.Since(t0)
		done <- err
	}()
	probes, err := b.p.sweep(ctx, b.hosts(), pathOfHost, 404, b.o.createWorkers, nil)
	gone := time.Since(t0)
	if werr := <-done; err == nil {
		err = werr
	}
	if err != nil {
		return 0, fmt.Errorf("teardown: %w", err)
	}
	r.teardownProbes.merge(probes)
	d := max(detached, gone)
	r.teardownCPU = append(r.teardownCPU, cpuUse(cpuBefore, b.sampleCPU(ctx), time.Since(t0)))
	logf("teardown: %.2fs (deletes done after %.2fs, Gateway reported 0 attached after %.2fs, every host 404 after %.2fs)", d.Seconds(), deletes.Seconds(), detached.Seconds(), gone.Seconds())
	return d, nil
}

// setup creates all routes at once (createWorkers concurrent creates) and times it until
// the listeners report N attached and every route is Accepted, then until every host
// answers 200, and counts the status writes it took once they settle.
func (b *bench) setup(ctx context.Context, r *report) error {
	n := b.o.routes
	logf("setup: creating %d routes with %d concurrent creates", n, b.o.createWorkers)
	before := b.t.state()
	mBefore := b.operatorMetrics(ctx)
	putsBefore := b.statusPuts(ctx)
	cpuBefore := b.sampleCPU(ctx)
	t0 := time.Now()
	attached := make(chan error, 1)
	go func() {
		err := b.t.wait(ctx, func(s *trackerState) bool { return s.attached == int32(n) && s.nAccepted == n })
		r.setup = time.Since(t0)
		attached <- err
	}()
	if err := b.each(ctx, func(i int) error {
		return b.c.Create(ctx, route(b.o.namespace, b.o.gateway, i, backends[0]))
	}); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	r.setupCreates = time.Since(t0)
	logf("setup: %d creates took %.2fs; waiting for the Gateway to report them attached", n, r.setupCreates.Seconds())
	if err := <-attached; err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	r.setupCPU = cpuUse(cpuBefore, b.sampleCPU(ctx), time.Since(t0))
	logf("setup: %.2fs until %d attached and Accepted; waiting for every host to answer 200", r.setup.Seconds(), n)
	probes, err := b.p.sweep(ctx, b.hosts(), pathOfHost, 200, b.o.createWorkers, nil)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	r.setupServing = time.Since(t0)
	r.setupProbes = probes
	// Status writes: let the operator finish (acks arrive after the push) and count.
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	b.t.quiet(qctx, 3*time.Second)
	cancel()
	after := b.t.state()
	r.routeStatusWrites = after.routeStatusWrites - before.routeStatusWrites
	r.gatewayStatusWrites = after.gatewayStatusWrites - before.gatewayStatusWrites
	r.setupOperator = diff(mBefore, b.operatorMetrics(ctx))
	r.setupPuts = diff(putsBefore, b.statusPuts(ctx))
	logf("setup: every host serving after %.2fs; %d route and %d Gateway status writes", r.setupServing.Seconds(), r.routeStatusWrites, r.gatewayStatusWrites)
	return nil
}

// floor creates the same N routes with a parentRef to a Gateway that does not exist, so
// no controller writes their status: one at a time (as the propagation step does), then
// all at once after deleting them (as setup does), and deletes them again (as teardown
// does). That is the apiserver's work in those steps with everything that watches
// HTTPRoutes attached (the operator's replicas included) and no status write: the part
// of propagation, setup and teardown no controller can remove on this cluster.
func (b *bench) floor(ctx context.Context, r *report) error {
	if err := b.floorSteps(ctx, r); err != nil {
		return fmt.Errorf("apiserver floor: %w", err)
	}
	return nil
}

func (b *bench) floorSteps(ctx context.Context, r *report) error {
	n := b.o.routes
	absent := b.o.gateway + "-absent"
	create := func(i int) error { return b.c.Create(ctx, route(b.o.namespace, absent, i, backends[0])) }
	allGone := func(s *trackerState) bool { return len(s.routes) == 0 }
	before := b.t.state()
	logf("apiserver floor: creating %d routes for Gateway %s (which does not exist) one at a time", n, absent)
	var err error
	if _, r.floorSerialCPU, err = b.measured(ctx, func() error {
		for i := 1; i <= n; i++ {
			t0 := time.Now()
			if err := create(i); err != nil {
				return fmt.Errorf("route %d: %w", i, err)
			}
			r.floorSerialCreates = append(r.floorSerialCreates, time.Since(t0))
		}
		return nil
	}); err != nil {
		return err
	}
	logf("apiserver floor: Create call %s; deleting them", summarize(r.floorSerialCreates))
	if err := b.deleteEach(ctx); err != nil {
		return err
	}
	if err := b.t.wait(ctx, allGone); err != nil {
		return err
	}
	logf("apiserver floor: creating %d routes for Gateway %s with %d concurrent creates", n, absent, b.o.createWorkers)
	if r.floorCreates, r.floorCreateCPU, err = b.measured(ctx, func() error { return b.each(ctx, create) }); err != nil {
		return err
	}
	if err := b.t.wait(ctx, func(s *trackerState) bool { return len(s.routes) == n }); err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	b.t.quiet(qctx, time.Second)
	cancel()
	r.floorStatusWrites = b.t.state().routeStatusWrites - before.routeStatusWrites
	logf("apiserver floor: %d creates took %.2fs (%d route status writes); deleting them", n, r.floorCreates.Seconds(), r.floorStatusWrites)
	if r.floorDeletes, r.floorDeleteCPU, err = b.measured(ctx, func() error { return b.deleteEach(ctx) }); err != nil {
		return err
	}
	if err := b.t.wait(ctx, allGone); err != nil {
		return err
	}
	logf("apiserver floor: %d deletes took %.2fs", n, r.floorDeletes.Seconds())
	return nil
}

// measured runs f and returns how long it took and the CPU each component used meanwhile.
func (b *bench) measured(ctx context.Context, f func() error) (time.Duration, string, error) {
	before := b.sampleCPU(ctx)
	t0 := time.Now()
	err := f()
	d := time.Since(t0)
	return d, cpuUse(before, b.sampleCPU(ctx), d), err
}

// each runs f for routes 1..N on createWorkers goroutines and returns the first error.
func (b *bench) each(ctx context.Context, f func(i int) error) error {
	next := make(chan int)
	errc := make(chan error, b.o.createWorkers)
	var wg sync.WaitGroup
	for range b.o.createWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errc <- fmt.Errorf("route %d: %w", i, err)
					return
				}
			}
		}()
	}
	func() {
		defer close(next)
		for i := 1; i <= b.o.routes; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			case err := <-errc:
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

func (b *bench) hosts() []string {
	hs := make([]string, b.o.routes)
	for i := range hs {
		hs[i] = routeHost(i + 1)
	}
	return hs
}

// pathOfHost maps i.example.com to /i.
func pathOfHost(host string) string {
	i, _, _ := strings.Cut(host, ".")
	return "/" + i
}

// statusPuts samples the apiserver's status update counters (nil if unavailable).
func (b *bench) statusPuts(ctx context.Context) map[string]float64 {
	if b.rc == nil {
		return nil
	}
	m, err := statusPuts(ctx, b.rc)
	if err != nil {
		logf("%v", err)
		return nil
	}
	return m
}

// operatorMetrics samples the leader's counters (nil if it cannot be reached).
func (b *bench) operatorMetrics(ctx context.Context) map[string]float64 {
	procs, err := operatorProcs(ctx, b.c)
	if err != nil || len(procs) == 0 || !procs[0].leader {
		return nil
	}
	m, err := scrape(ctx, procs[0].ip, operatorCounters...)
	if err != nil {
		logf("operator metrics: %v", err)
		return nil
	}
	// Proxies stream from whichever replica they connected to: config pushes are summed
	// over every replica, and the leader's share is kept (a follower that serves no proxy
	// paces its translations, so the share tells runs apart).
	m[leaderPushes] = m["agentgateway_xds_pushes_total"]
	for _, p := range procs[1:] {
		o, err := scrape(ctx, p.ip, pushCounters...)
		if err != nil {
			logf("operator metrics of %s: %v", p.pod, err)
			return nil
		}
		for _, k := range pushCounters {
			m[k] += o[k]
		}
	}
	return m
}

// leaderPushes is the key under which operatorMetrics keeps the leader's own config pushes.
const leaderPushes = "leader:agentgateway_xds_pushes_total"

// pushCounters are the operator counters of config pushes, which every replica serving
// proxies counts.
var pushCounters = []string{"agentgateway_xds_pushes_total", "agentgateway_xds_delta_pushes_total", "agentgateway_xds_push_bytes_total"}

func diff(before, after map[string]float64) map[string]float64 {
	if before == nil || after == nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// sampleMemory records the operator replicas' and the proxies' memory now, keeping the
// largest seen.
func (b *bench) sampleMemory(ctx context.Context, r *report) {
	ops, err := operatorProcs(ctx, b.c)
	if err != nil {
		logf("memory: %v", err)
	}
	proxies, err := podProcs(ctx, b.c, b.o.namespace, client.MatchingLabels{"gateway.networking.k8s.io/gateway-name": b.o.gateway})
	if err != nil {
		logf("memory: %v", err)
	}
	if r.mem == nil {
		r.mem = map[string]mem{}
	}
	record := func(name string, pid int) {
		m, err := memOf(pid)
		if err != nil {
			logf("memory of %s (pid %d): %v", name, pid, err)
			return
		}
		old := r.mem[name]
		r.mem[name] = mem{rss: max(old.rss, m.rss), hwm: max(old.hwm, m.hwm)}
	}
	for _, p := range ops {
		role := "operator (follower) " + p.pod
		if p.leader {
			role = "operator (leader) " + p.pod
		}
		record(role, p.pid)
	}
	for _, p := range proxies {
		record("proxy "+p.pod, p.pid)
	}
}
