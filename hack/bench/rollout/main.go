// Command rollout is the zero-downtime benchmark of agentgateway-go (make bench-rollout).
// Against a running cluster with agentgateway-go installed, in a namespace of its own, it
// creates an echo backend Deployment (3 replicas of localcluster.EchoImage), two Services
// selecting it, a Gateway and an HTTPRoute, waits until the route answers 200, and then,
// while a fixed number of keep-alive clients send requests at a bounded rate, runs three
// phases and counts the answers of each:
//
//  1. backend: a rollout restart of the echo Deployment, until it completes and its old
//     pods are gone, plus a settle time;
//  2. proxy: a rollout restart of the Gateway's proxy Deployment, likewise;
//  3. routes: N changes of the HTTPRoute, each moving it to the other Service and setting
//     a request header to the change's number, each waited for until a client's answer
//     carries that number (the echo server returns the request's headers).
//
// A request counts in the phase during which it started. It prints, for machines, one line
// per phase and a summary:
//
//	bench-rollout: phase=<backend|proxy|routes> requests=<n> non2xx=<n> errors=<n>
//	bench-rollout: requests=<n> non2xx=<n> errors=<n>
//
// It exits non-zero only when it cannot set up or run a phase, not on the counts. It
// creates objects only in its namespace and never deletes the namespace
// (hack/bench-rollout.sh does).
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

	"github.com/agentgateway/agentgateway-go/hack/bench/cluster"
)

const prog = "bench-rollout"

type options struct {
	namespace, gateway, class string
	clients, changes          int
	interval                  time.Duration
	settle                    time.Duration
	timeout, stepTimeout      time.Duration
}

func main() {
	o := options{}
	flag.StringVar(&o.namespace, "namespace", cluster.EnvStr("BENCH_NAMESPACE", "agw-rollout"), "namespace of the benchmark's objects (env BENCH_NAMESPACE)")
	flag.StringVar(&o.gateway, "gateway", "rollout", "name of the benchmark's Gateway")
	flag.StringVar(&o.class, "gateway-class", cluster.EnvStr("BENCH_GATEWAY_CLASS", "agentgateway"), "GatewayClass of the Gateway (env BENCH_GATEWAY_CLASS)")
	flag.IntVar(&o.clients, "clients", cluster.EnvInt(prog, "BENCH_CLIENTS", 8), "concurrent keep-alive clients (env BENCH_CLIENTS)")
	flag.DurationVar(&o.interval, "interval", cluster.EnvDuration(prog, "BENCH_INTERVAL", 10*time.Millisecond), "least time between the starts of two requests of one client (env BENCH_INTERVAL)")
	flag.IntVar(&o.changes, "changes", cluster.EnvInt(prog, "BENCH_CHANGES", 30), "route changes in the routes phase (env BENCH_CHANGES)")
	flag.DurationVar(&o.settle, "settle", cluster.EnvDuration(prog, "BENCH_SETTLE", 5*time.Second), "traffic kept in a phase after its rollout completed (env BENCH_SETTLE)")
	flag.DurationVar(&o.timeout, "timeout", cluster.EnvDuration(prog, "BENCH_TIMEOUT", 20*time.Minute), "bound on the whole run (env BENCH_TIMEOUT)")
	flag.DurationVar(&o.stepTimeout, "step-timeout", cluster.EnvDuration(prog, "BENCH_STEP_TIMEOUT", 5*time.Minute), "bound on one rollout or one route change (env BENCH_STEP_TIMEOUT)")
	flag.Parse()
	if o.clients < 1 || o.clients > 256 || o.changes < 0 || o.changes > 10000 || o.interval < 0 || o.settle < 0 {
		fmt.Fprintln(os.Stderr, "bench-rollout: clients 1..256, changes 0..10000, interval and settle >= 0")
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
		fmt.Fprintln(os.Stderr, "bench-rollout:", err)
		os.Exit(1)
	}
}

// logf prints progress to stderr with the wall-clock time (to line up with proxy and
// cluster logs); the report goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-rollout: %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}

func run(ctx context.Context, o options) error {
	cfg, err := cluster.Config()
	if err != nil {
		return err
	}
	c, _, err := cluster.NewClient(cfg)
	if err != nil {
		return err
	}
	b := &bench{o: o, c: c}
	logf("namespace %s: echo Deployment %s (%d replicas), Services %v, Gateway %s (class %s), HTTPRoute %s",
		o.namespace, echoName, echoReplicas, services, o.gateway, o.class, routeName)
	if err := b.environment(ctx); err != nil {
		return err
	}
	addr, err := b.waitServed(ctx)
	if err != nil {
		return err
	}
	logf("route served through %s; %d keep-alive clients, a request every %s each at most", addr, o.clients, o.interval)

	tr := newTraffic(addr, routeHost, o.clients, o.interval)
	tctx, stopTraffic := context.WithCancel(ctx)
	done := tr.start(tctx)
	phases := []struct {
		name string
		run  func(context.Context, *traffic) error
	}{
		{"backend", b.restartBackend},
		{"proxy", b.restartProxy},
		{"routes", b.changeRoutes},
	}
	var results []*phaseCounts
	var runErr error
	for _, p := range phases {
		pc := tr.begin(p.name)
		logf("phase %s: start", p.name)
		t0 := time.Now()
		err := p.run(ctx, tr)
		tr.end()
		pc.wall = time.Since(t0)
		results = append(results, pc)
		logf("phase %s: done in %s: %s", p.name, pc.wall.Round(time.Millisecond), pc.brief())
		if err != nil {
			runErr = fmt.Errorf("phase %s: %w", p.name, err)
			break
		}
	}
	stopTraffic()
	<-done
	if runErr != nil {
		return runErr
	}
	printReport(os.Stdout, results)
	return nil
}
