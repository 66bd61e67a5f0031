package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/collectors"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/operator/status"
	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// ControllerName is the GatewayClass controllerName this operator owns.
const ControllerName = "agentgateway.dev/agentgateway"

// key is the only reconcile request: every event means "re-read everything".
var key = reconcile.Request{NamespacedName: types.NamespacedName{Name: "agentgateway"}}

// CacheOptions restricts the cache for the workload kinds to the ones the deployer made,
// so the operator does not hold every Deployment of the cluster, and drops managedFields
// from every cached object. Pass it to the manager.
func CacheOptions() cache.Options {
	sel := labels.SelectorFromSet(labels.Set{deployer.ManagedByLabel: deployer.ManagedByValue})
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:                     {Label: sel},
			&corev1.ServiceAccount{}:                 {Label: sel},
			&policyv1.PodDisruptionBudget{}:          {Label: sel},
			&autoscalingv2.HorizontalPodAutoscaler{}: {Label: sel},
			// Pods are read only for XBackend endpoint selection: keep what it reads.
			&corev1.Pod{}: {Transform: stripPod},
		},
		// Nothing here reads managedFields: the deployer applies server-side, and a status
		// update without them keeps the live ones (the API server takes the live object's
		// when a request has none). Stripping them keeps the cache smaller.
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}

// Options configure a Provider.
type Options struct {
	Deployer     deployer.Options
	ConfigServer *configserver.Server
	Log          *slog.Logger
	// Registerer for the reconcile metrics (nil skips them).
	Registerer prometheus.Registerer
	// OnResult, if set, receives every translation Result on every replica (the aggregated
	// API publishes EffectiveConfigs from it). It must not modify or keep parts of res
	// that it does not copy, and should return quickly.
	OnResult func(res *translate.Result)
	// SessionSecret goes into every Snapshot (translate.Snapshot.SessionSecret).
	SessionSecret []byte
}

// Provider is the reconciler. Build it with Setup.
type Provider struct {
	client  client.Client
	reader  client.Reader
	elected <-chan struct{}
	cs      *configserver.Server
	deploy  deployer.Options
	applier *deployer.Applier
	status  *status.Writer
	log     *slog.Logger
	// present are the inputs whose kinds the apiserver serves.
	present []input
	// watchPods: XBackends are served, so Pods are watched for their endpoint selectors.
	watchPods bool
	// published are the Gateways with a config on the config server, to unpublish those
	// that disappear.
	published map[types.NamespacedName]bool
	trigger   chan event.GenericEvent
	onResult  func(*translate.Result)
	// sessionSecret is copied into every Snapshot.
	sessionSecret []byte
	metrics       metrics
	// statusLoop writes status on the leader, off the reconcile path.
	statusLoop *statusLoop
	// pace bounds the time spent reconciling during bursts of changes (see pacer); events
	// counts the changes since the last reconcile that ran, to tell a burst from a lone
	// change.
	pace   *pacer
	events atomic.Int64
	// servedChanged: the last reconcile changed the config of a Gateway whose proxies are
	// connected to this replica (see pacing). True until a reconcile says otherwise.
	servedChanged atomic.Bool
	// lastResult is the previous translation (only Reconcile uses it; reconciles are serial).
	lastResult *translate.Result
}

type metrics struct {
	reconciles     *prometheus.CounterVec
	reconcileTime  prometheus.Histogram
	translateTime  prometheus.Histogram
	stepTime       *prometheus.HistogramVec
	statusWrites   *prometheus.CounterVec
	workloadWrites prometheus.Counter
	routePieces    *prometheus.CounterVec
}

// newMetrics returns the Provider's collectors, unregistered.
func newMetrics() metrics {
	return metrics{
		reconciles:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentgateway_reconciles_total", Help: "Reconciles by result; paced: deferred during a burst of changes, nothing done."}, []string{"result"}),
		reconcileTime:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "agentgateway_reconcile_seconds", Help: "Time of one full reconcile.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		translateTime:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "agentgateway_translate_seconds", Help: "Time of one translation of every Gateway's resources into proxy configs.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15), NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100, NativeHistogramMinResetDuration: time.Hour}),
		stepTime:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agentgateway_reconcile_step_seconds", Help: "Time of each step of a reconcile (snapshot, translate, views, publish, deploy, status), to see where a reconcile's time goes.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"step"}),
		statusWrites:   status.NewWritesCounter(),
		routePieces:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentgateway_translate_route_pieces_total", Help: "HTTP route pieces of the proxy configs translated: reused from the previous translation, or encoded."}, []string{"result"}),
		workloadWrites: prometheus.NewCounter(prometheus.CounterOpts{Name: "agentgateway_workload_applies_total", Help: "Proxy Deployments, Services and ServiceAccounts applied or deleted."}),
	}
}

// Collectors returns a fresh set of the Provider's collectors, for the metrics reference
// (hack/metricsdoc); a Provider registers its own with Options.Registerer.
func Collectors() []prometheus.Collector {
	m := newMetrics()
	return []prometheus.Collector{m.reconciles, m.reconcileTime, m.translateTime, m.stepTime, m.statusWrites, m.workloadWrites, m.routePieces}
}

// Setup registers the Provider's controller with mgr.
func Setup(mgr manager.Manager, o Options) (*Provider, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{
		client:        mgr.GetClient(),
		reader:        mgr.GetCache(),
		elected:       mgr.Elected(),
		cs:            o.ConfigServer,
		deploy:        o.Deployer,
		log:           log,
		published:     map[types.NamespacedName]bool{},
		trigger:       make(chan event.GenericEvent, 1),
		onResult:      o.OnResult,
		sessionSecret: o.SessionSecret,
		pace:          newPacer(paceBurst),
		metrics:       newMetrics(),
	}
	p.servedChanged.Store(true)
	if reg := o.Registerer; reg != nil {
		m := &p.metrics
		var errs []error
		m.reconciles, errs = collectors.Register(reg, m.reconciles, errs)
		m.reconcileTime, errs = collectors.Register(reg, m.reconcileTime, errs)
		m.translateTime, errs = collectors.Register(reg, m.translateTime, errs)
		m.stepTime, errs = collectors.Register(reg, m.stepTime, errs)
		m.statusWrites, errs = collectors.Register(reg, m.statusWrites, errs)
		m.workloadWrites, errs = collectors.Register(reg, m.workloadWrites, errs)
		m.routePieces, errs = collectors.Register(reg, m.routePieces, errs)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("register provider metrics: %w", err)
		}
	}
	p.applier = &deployer.Applier{Client: mgr.GetClient(), Reader: mgr.GetCache()}
	p.status = &status.Writer{
		Client: mgr.GetClient(), Reader: mgr.GetCache(),
		ControllerName: ControllerName,
		Programmed:     o.ConfigServer.Programmed,
		ServiceName:    deployer.ProxyName,
		Log:            log,
		Writes:         p.metrics.statusWrites,
	}
	p.statusLoop = newStatusLoop(log, p.writeStatus)
	p.statusLoop.due = p.status.TakeDue
	if err := mgr.Add(p.statusLoop); err != nil {
		return nil, fmt.Errorf("add status writer: %w", err)
	}

	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		p.events.Add(1)
		return []reconcile.Request{key}
	})
	b := builder.ControllerManagedBy(mgr).Named("agentgateway").
		// Every replica translates and publishes to its proxies; leader-only work is gated
		// inside Reconcile on mgr.Elected().
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: 1})
	mapper := mgr.GetRESTMapper()
	for _, in := range inputs {
		if _, err := mapper.RESTMapping(in.gvk.GroupKind(), in.gvk.Version); err != nil {
			if in.optional && meta.IsNoMatchError(err) {
				log.Warn("kind not served by the apiserver; not watching it (install its CRD and restart the operator to use it)", "kind", in.gvk.String())
				continue
			}
			return nil, fmt.Errorf("look up %s: %w", in.gvk, err)
		}
		p.present = append(p.present, in)
		if in.gvk.Kind == "XBackend" {
			p.watchPods = true
		}
		if statusWrittenByUs(in.gvk.Group) {
			b = b.Watches(in.obj, all, builder.WithPredicates(specChanged))
		} else {
			b = b.Watches(in.obj, all)
		}
	}
	if p.watchPods {
		// Only Pods that an EndpointSelector XBackend selects (before or after the change)
		// can change a proxy's endpoints.
		pods := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			if !p.podSelected(ctx, o) {
				return nil
			}
			p.events.Add(1)
			return []reconcile.Request{key}
		})
		b = b.Watches(&corev1.Pod{}, pods, builder.WithPredicates(podMatters))
	}
	for _, o := range owned {
		b = b.Watches(o, all)
	}
	for _, o := range ownedSpecOnly {
		b = b.Watches(o, all, builder.WithPredicates(specChanged))
	}
	// Leadership changes have no Kubernetes object: they arrive through this channel.
	b = b.WatchesRawSource(source.Channel(p.trigger, all))
	// A proxy's connect, ACK or NACK changes only the Gateway's Programmed condition, which
	// status decides at write time: write the latest result again, no translation needed.
	o.ConfigServer.AddChangeListener(func(types.NamespacedName) { p.statusLoop.poke() })
	// A NACK is a translator bug (validation happens before configs are published), but the
	// user sees its effect first: tell them on the Gateway.
	rec := mgr.GetEventRecorder("agentgateway")
	o.ConfigServer.OnReject = func(gw types.NamespacedName, pod, version, reason string) {
		go func() {
			obj := &gwv1.Gateway{}
			if err := p.reader.Get(context.Background(), gw, obj); err != nil {
				return
			}
			rec.Eventf(obj, nil, corev1.EventTypeWarning, "ConfigRejected", "ApplyConfig",
				"proxy %s rejected config %s and keeps serving its previous one: %s", pod, version, reason)
		}()
	}
	if err := mgr.Add(leaderTrigger{p}); err != nil {
		return nil, fmt.Errorf("add leader trigger: %w", err)
	}
	if err := b.Complete(p); err != nil {
		return nil, fmt.Errorf("build controller: %w", err)
	}
	return p, nil
}

// Trigger asks for a reconcile; it never blocks (a pending trigger already covers it).
func (p *Provider) Trigger() {
	select {
	case p.trigger <- event.GenericEvent{Object: &gwv1.GatewayClass{}}:
	default:
	}
}

// leaderTrigger reconciles once on becoming leader, so leader-only work catches up.
type leaderTrigger struct{ p *Provider }

// Start triggers once the manager's Elected channel is closed. controller-runtime starts the
// leader-election runnables first and closes Elected after: a reconcile triggered at Start
// could run while isLeader is still false, skip the deploy and status work, and consume the
// only trigger, so a new leader left the proxy Deployments as the old leader rendered them
// (after a helm upgrade, the old proxy image) until some unrelated event came.
func (l leaderTrigger) Start(ctx context.Context) error {
	select {
	case <-l.p.elected:
		l.p.Trigger()
	case <-ctx.Done():
	}
	return nil
}

func (l leaderTrigger) NeedLeaderElection() bool { return true }

func (p *Provider) isLeader() bool {
	select {
	case <-p.elected:
		return true
	default:
		return false
	}
}

// Reconcile implements reconcile.Reconciler: snapshot, translate, publish, and on the
// leader deploy and write status.
func (p *Provider) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	paced, share := pacing(p.isLeader(), p.servedChanged.Load(), p.events.Load())
	if paced {
		if d := p.pace.delay(time.Now(), share); d > 0 {
			// The changes of the wait are batched into the reconcile after it.
			p.metrics.reconciles.WithLabelValues("paced").Inc()
			return reconcile.Result{RequeueAfter: d}, nil
		}
	}
	p.events.Store(0)
	start := time.Now()
	err := p.reconcile(ctx)
	took := time.Since(start)
	if paced {
		p.pace.spend(start.Add(took), took, share)
	}
	p.metrics.reconcileTime.Observe(took.Seconds())
	if apierrors.IsConflict(err) {
		// Our cache lags our own last write; the watch event of that write is on its way
		// and brings a fresh snapshot. Not an error worth a log line or a back-off.
		p.metrics.reconciles.WithLabelValues("conflict").Inc()
		p.log.Debug("stale cache; reconciling again", "error", err)
		return reconcile.Result{RequeueAfter: 50 * time.Millisecond}, nil
	}
	if err != nil {
		p.metrics.reconciles.WithLabelValues("error").Inc()
		p.log.Error("reconcile failed; retrying", "error", err)
		return reconcile.Result{}, err
	}
	p.metrics.reconciles.WithLabelValues("success").Inc()
	return reconcile.Result{}, nil
}

func (p *Provider) reconcile(ctx context.Context) error {
	step := p.stepTimer()
	snap, err := p.Snapshot(ctx)
	step("snapshot")
	if err != nil {
		return err
	}
	t := time.Now()
	// The previous result lends the encodings of the routes that did not change.
	res := translate.TranslateReusing(snap, p.lastResult)
	p.lastResult = res
	p.metrics.translateTime.Observe(time.Since(t).Seconds())
	for i := range res.Gateways {
		if e := res.Gateways[i].Encoded; e != nil {
			p.metrics.routePieces.WithLabelValues("reused").Add(float64(e.Reused()))
			p.metrics.routePieces.WithLabelValues("encoded").Add(float64(e.Routes() - e.Reused()))
		}
	}
	step("translate")

	var errs []error
	// Publish first: proxies converge as early as possible, on every replica.
	now := map[types.NamespacedName]bool{}
	served := false
	for i := range res.Gateways {
		g := &res.Gateways[i]
		if g.Config == nil {
			continue // rejected: proxies keep their last good config
		}
		k := types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
		now[k] = true
		changed, err := p.cs.Publish(k, g.Generation, g.Config, g.Encoded)
		if err != nil {
			errs = append(errs, err)
		}
		if changed && !served {
			served = p.cs.ConnectedTo(k) > 0
		}
	}
	for k := range p.published {
		if !now[k] {
			if !served {
				served = p.cs.ConnectedTo(k) > 0
			}
			if _, err := p.cs.Publish(k, 0, nil, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	p.published = now
	p.servedChanged.Store(served)
	step("publish")
	// Views (EffectiveConfigs) after the proxies: they copy every Gateway's effective config,
	// and a reader of the API can trail the proxies by a moment.
	if p.onResult != nil {
		p.onResult(res)
		step("views")
	}

	if !p.isLeader() {
		return errors.Join(errs...)
	}
	if err := p.deployAll(ctx, snap, res); err != nil {
		errs = append(errs, err)
	}
	step("deploy")
	p.statusLoop.offer(snap, res)
	return errors.Join(errs...)
}

// writeStatus is one pass of the status loop: bring every object's status in line with res
// and drop our stale entries from objects res no longer covers, or, when only what proxies
// acknowledged changed (not full), rewrite the Gateways' and ListenerSets' status.
func (p *Provider) writeStatus(ctx context.Context, snap *translate.Snapshot, res *translate.Result, full bool) error {
	step := p.stepTimer()
	if !full {
		_, err := p.status.WriteGateways(ctx, res)
		step("status-programmed")
		return err
	}
	_, err := p.status.Write(ctx, res)
	_, staleErr := p.status.RemoveStale(ctx, snap, res)
	step("status")
	return errors.Join(err, staleErr)
}

// stepTimer returns a function that records the time since its previous call (or since
// stepTimer) under the step's name.
func (p *Provider) stepTimer() func(step string) {
	last := time.Now()
	return func(step string) {
		now := time.Now()
		p.metrics.stepTime.WithLabelValues(step).Observe(now.Sub(last).Seconds())
		last = now
	}
}

// Snapshot lists every present input from the cache.
func (p *Provider) Snapshot(ctx context.Context) (*translate.Snapshot, error) {
	s := &translate.Snapshot{ControllerName: ControllerName, SessionSecret: p.sessionSecret}
	for _, in := range p.present {
		if err := in.fill(ctx, p.reader, s); err != nil {
			return nil, fmt.Errorf("list %s from cache: %w", in.gvk.Kind, err)
		}
	}
	if p.watchPods {
		if err := fillPods(ctx, p.reader, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// deployAll renders and applies the workload of every Gateway of ours, and removes the
// workloads of Gateways that are no longer ours.
func (p *Provider) deployAll(ctx context.Context, snap *translate.Snapshot, res *translate.Result) error {
	gateways := map[types.NamespacedName]*gwv1.Gateway{}
	for i := range snap.Gateways {
		g := &snap.Gateways[i]
		gateways[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}] = g
	}
	classes := map[string]*gwv1.GatewayClass{}
	for i := range snap.GatewayClasses {
		classes[snap.GatewayClasses[i].Name] = &snap.GatewayClasses[i]
	}
	params := map[types.NamespacedName]*agwv1a1.AgentgatewayParameters{}
	for i := range snap.Parameters {
		pa := &snap.Parameters[i]
		params[types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}] = pa
	}

	var errs []error
	keep := map[types.NamespacedName]bool{}
	for _, r := range res.Gateways {
		k := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
		gw := gateways[k]
		if gw == nil || gw.DeletionTimestamp != nil {
			continue
		}
		keep[k] = true
		in := deployer.Input{Gateway: gw}
		in.ClassParams, in.GatewayParams = resolveParams(gw, classes[string(gw.Spec.GatewayClassName)], params)
		for _, pt := range r.Ports {
			in.Ports = append(in.Ports, deployer.Port{Name: pt.Name, Port: pt.Port, Protocol: corev1.Protocol(pt.Protocol)})
		}
		objs, err := deployer.Render(p.deploy, in)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := p.applier.Apply(ctx, objs)
		p.metrics.workloadWrites.Add(float64(n))
		if err != nil {
			errs = append(errs, err)
		}
	}
	n, err := p.applier.Prune(ctx, keep)
	p.metrics.workloadWrites.Add(float64(n))
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resolveParams finds the class's and the Gateway's AgentgatewayParameters. References to
// other kinds or missing objects resolve to nil (translation reports them in status).
func resolveParams(gw *gwv1.Gateway, class *gwv1.GatewayClass, params map[types.NamespacedName]*agwv1a1.AgentgatewayParameters) (classP, gwP *agwv1a1.AgentgatewayParametersSpec) {
	isOurs := func(group gwv1.Group, kind gwv1.Kind) bool {
		return string(group) == agwv1a1.GroupName && kind == "AgentgatewayParameters"
	}
	if class != nil && class.Spec.ParametersRef != nil {
		ref := class.Spec.ParametersRef
		if isOurs(ref.Group, ref.Kind) && ref.Namespace != nil {
			if pa := params[types.NamespacedName{Namespace: string(*ref.Namespace), Name: ref.Name}]; pa != nil {
				classP = &pa.Spec
			}
		}
	}
	if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
		ref := inf.ParametersRef
		if isOurs(ref.Group, ref.Kind) {
			if pa := params[types.NamespacedName{Namespace: gw.Namespace, Name: ref.Name}]; pa != nil {
				gwP = &pa.Spec
			}
		}
	}
	return classP, gwP
}
