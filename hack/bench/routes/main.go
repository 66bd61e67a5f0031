// Command routes is the route-lifecycle benchmark of the control plane (make
// bench-control-plane), modeled on the public gateway-api-bench probe. Against a running
// cluster with agentgateway-go installed, in a namespace of its own, it
//
//  1. adds N HTTPRoutes one at a time to one Gateway (route i: hostname i.example.com,
//     PathPrefix /i, a RequestHeaderModifier filter) and times each from Create to the
//     first 200 through the Gateway's address, probing back-to-back;
//  2. flips route 1 between two echo backends F times while a client sends back-to-back
//     requests, counting every non-200 and which backend pods answered;
//  3. deletes all routes and times it until the Gateway reports 0 attached and every
//     host answers 404 (teardown);
//  4. creates all N routes at once and times it until the Gateway's listeners report N
//     attached and every route is Accepted (setup), counting the status writes that took;
//  5. tears down again;
//  6. creates and deletes the same N routes for a Gateway that does not exist (no status
//     writes: the apiserver floor of setup and teardown), and reports operator and proxy
//     memory seen along the way.
//
// The last line of its output is for machines:
//
//	bench-control-plane: propagation_p99_ms=<ms> flip_errors=<n> setup_s=<s> teardown_s=<s>
//
// It creates and deletes only objects in its namespace and never deletes the namespace
// (hack/bench-control-plane.sh does).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/agentgateway/agentgateway-go/hack/bench/cluster"
)

const prog = "bench-control-plane"

type options struct {
	routes, flips, createWorkers int
	namespace, gateway, class    string
	timeout, routeTimeout        time.Duration
	probeInterval                time.Duration
}

func main() {
	o := options{}
	flag.IntVar(&o.routes, "routes", cluster.EnvInt(prog, "BENCH_ROUTES", 1000), "routes to add (env BENCH_ROUTES)")
	flag.IntVar(&o.flips, "flips", cluster.EnvInt(prog, "BENCH_FLIPS", 1000), "backend flips of route 1 (env BENCH_FLIPS)")
	flag.IntVar(&o.createWorkers, "create-workers", cluster.EnvInt(prog, "BENCH_CREATE_WORKERS", 16), "concurrent creates and deletes in the bulk setup step (env BENCH_CREATE_WORKERS)")
	flag.StringVar(&o.namespace, "namespace", cluster.EnvStr("BENCH_NAMESPACE", "agw-bench"), "namespace of the benchmark's objects (env BENCH_NAMESPACE)")
	flag.StringVar(&o.gateway, "gateway", "bench", "name of the benchmark's Gateway")
	flag.StringVar(&o.class, "gateway-class", cluster.EnvStr("BENCH_GATEWAY_CLASS", "agentgateway"), "GatewayClass of the Gateway (env BENCH_GATEWAY_CLASS)")
	flag.DurationVar(&o.timeout, "timeout", cluster.EnvDuration(prog, "BENCH_TIMEOUT", 45*time.Minute), "bound on the whole run (env BENCH_TIMEOUT)")
	flag.DurationVar(&o.probeInterval, "probe-interval", cluster.EnvDuration(prog, "BENCH_PROBE_INTERVAL", time.Millisecond), "least time between two propagation probes of a route; 0 probes back to back (env BENCH_PROBE_INTERVAL)")
	flag.DurationVar(&o.routeTimeout, "route-timeout", cluster.EnvDuration(prog, "BENCH_ROUTE_TIMEOUT", 30*time.Second), "bound on one route's propagation or one flip (env BENCH_ROUTE_TIMEOUT)")
	flag.Parse()
	if o.routes < 1 || o.routes > 100000 || o.flips < 0 || o.flips > 1000000 || o.createWorkers < 1 || o.createWorkers > 256 {
		fmt.Fprintln(os.Stderr, "bench-control-plane: routes 1..100000, flips 0..1e6, create-workers 1..256")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err := run(ctx, o)
	cancel()
	stop()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the whole run is bounded by BENCH_TIMEOUT=%s)", err, o.timeout)
		}
		fmt.Fprintln(os.Stderr, "bench-control-plane:", err)
		os.Exit(1)
	}
}

// logf prints progress to stderr; the report goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-control-plane: "+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	cfg, err := cluster.Config()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000 // the bulk step is about apiserver throughput, not client throttling
	c, scheme, err := cluster.NewClient(cfg)
	if err != nil {
		return err
	}
	b := &bench{o: o, c: c}
	if kc, err := kubernetes.NewForConfig(cfg); err == nil {
		b.rc = kc.Discovery().RESTClient()
	}

	logf("namespace %s: echo backends %v and Gateway %s (class %s)", o.namespace, backends, o.gateway, o.class)
	if err := environment(ctx, c, o.namespace, o.gateway, o.class); err != nil {
		return err
	}
	if b.t, err = startTracker(ctx, cfg, scheme, o.namespace, o.gateway); err != nil {
		return err
	}
	if err := b.deleteRoutes(ctx); err != nil { // leftovers of an interrupted run
		return err
	}
	if err := waitBackends(ctx, c, o.namespace); err != nil {
		return err
	}
	if err := b.waitGateway(ctx); err != nil {
		return err
	}

	r := &report{n: o.routes, flips: o.flips}
	r.load = loadavg()
	if err := b.propagation(ctx, r); err != nil {
		return err
	}
	if err := b.flip(ctx, r); err != nil {
		return err
	}
	b.sampleMemory(ctx, r)
	first, err := b.teardown(ctx, r)
	if err != nil {
		return err
	}
	if err := b.setup(ctx, r); err != nil {
		return err
	}
	b.sampleMemory(ctx, r)
	second, err := b.teardown(ctx, r)
	if err != nil {
		return err
	}
	if err := b.floor(ctx, r); err != nil {
		return err
	}
	r.teardown = max(first, second)
	r.teardowns = [2]time.Duration{first, second}
	r.print(os.Stdout)
	return nil
}

// loadavg is the 1-minute load average, printed so results from a busy machine are
// recognizable.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) == 0 {
		return "?"
	}
	for i, ch := range b {
		if ch == ' ' {
			return string(b[:i])
		}
	}
	return string(b)
}
