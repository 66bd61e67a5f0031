package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// report is everything the run measured.
type report struct {
	n, flips int
	load     string

	propagation, creates    []time.Duration
	afterCreate             []time.Duration // propagation minus the Create call
	propagationTimeouts     int
	propagationProbes       tally
	probeInterval           time.Duration
	propagationWall         time.Duration
	propagationStatusWrites int
	propagationOperator     map[string]float64
	propagationPuts         map[string]float64

	flipLatency      []time.Duration
	flipsUnseen      int
	flipProbes       tally
	flipBackends     map[string]int
	flipErrorSamples []answer
	flipWall         time.Duration

	setup, setupCreates, setupServing      time.Duration
	setupProbes                            tally
	routeStatusWrites, gatewayStatusWrites int
	setupOperator                          map[string]float64
	setupPuts                              map[string]float64
	setupCPU                               string // CPU per process until all attached
	propagationCPU                         string // CPU per process while adding routes one at a time

	teardown       time.Duration
	teardowns      [2]time.Duration
	teardownProbes tally
	teardownCPU    []string // CPU per process of each teardown

	// The same creates and deletes for a Gateway that does not exist (no status writes).
	floorCreates, floorDeletes     time.Duration
	floorCreateCPU, floorDeleteCPU string
	floorStatusWrites              int
	floorSerialCreates             []time.Duration // the Create call, one route at a time
	floorSerialCPU                 string

	mem map[string]mem
}

// flipErrors are the flip client's answers other than 200, failed requests included.
func (r *report) flipErrors() int {
	return r.flipProbes.notFound + r.flipProbes.errors()
}

func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) } //nolint:errcheck // the report goes to stdout; a failed write has nowhere else to go
	p("")
	p("route lifecycle, %d routes, %d flips (load average at start %s, now %s)", r.n, r.flips, r.load, loadavg())
	prop := summarize(r.propagation)
	p("  propagation (Create -> first 200):  %s", prop)
	if r.probeInterval > 0 {
		p("    probes of a route at most every:  %s (BENCH_PROBE_INTERVAL)", r.probeInterval)
	}
	p("    the Create call alone:            %s", summarize(r.creates))
	p("    from the Create call's return:    %s", summarize(r.afterCreate))
	p("    probe errors (not 200/404):       %d (%d failed requests, codes %v)%s", r.propagationProbes.errors(), r.propagationProbes.failed, r.propagationProbes.codes, lastErr(r.propagationProbes))
	if n := len(r.propagation); n > 0 {
		pr := r.propagationProbes
		p("    probes:                           %d (%.1f per route: %d answered 404)", pr.ok+pr.notFound+pr.badCode+pr.failed, float64(pr.ok+pr.notFound+pr.badCode+pr.failed)/float64(n), pr.notFound)
	}
	p("    routes never serving:             %d", r.propagationTimeouts)
	p("    status writes while adding:       %d (%.1f per route)", r.propagationStatusWrites, float64(r.propagationStatusWrites)/float64(r.n))
	p("    operator leader, per route:       %s", perRoute(r.propagationOperator, r.n))
	if r.propagationPuts != nil {
		p("    apiserver status PUTs per route:  %.2f written, %.2f conflicts (409), %.2f other failures (HTTPRoute, Gateway; all namespaces)",
			r.propagationPuts["200"]/float64(r.n), r.propagationPuts["409"]/float64(r.n), sumExcept(r.propagationPuts, "200", "409")/float64(r.n))
	}
	p("    wall time:                        %.1fs", r.propagationWall.Seconds())
	if r.propagationCPU != "" {
		p("    CPU while adding:                 %s", r.propagationCPU)
	}
	if r.flips > 0 {
		p("  flip (route 1, back-to-back client): %d non-200 of %d answers (404: %d, other codes %v, failed %d)%s",
			r.flipErrors(), r.flipProbes.ok+r.flipErrors(), r.flipProbes.notFound, r.flipProbes.codes, r.flipProbes.failed, lastErr(r.flipProbes))
		for _, a := range r.flipErrorSamples {
			p("    e.g. code %d err %v at %s", a.code, a.err, a.start.Format(time.TimeOnly+".000"))
		}
		p("    served by:                        %s", backendsServed(r.flipBackends))
		p("    flip visible after:               %s (never seen: %d)", summarize(r.flipLatency), r.flipsUnseen)
		p("    wall time:                        %.1fs", r.flipWall.Seconds())
	}
	p("  setup (%d creates at once -> all attached and Accepted): %.2fs", r.n, r.setup.Seconds())
	p("    creates done after:               %.2fs", r.setupCreates.Seconds())
	p("    every host answering 200 after:   %.2fs (probe errors %d)", r.setupServing.Seconds(), r.setupProbes.errors())
	p("    status writes:                    %d (%d HTTPRoute, %d Gateway) for %d routes", r.routeStatusWrites+r.gatewayStatusWrites, r.routeStatusWrites, r.gatewayStatusWrites, r.n)
	if r.setupPuts != nil {
		p("    apiserver status PUTs (HTTPRoute, Gateway; all namespaces): %.0f written, %.0f conflicts (409), %.0f other failures",
			r.setupPuts["200"], r.setupPuts["409"], sumExcept(r.setupPuts, "200", "409"))
	}
	p("    operator leader, whole step:      %s", perRoute(r.setupOperator, 1))
	p("    CPU until all attached:           %s", r.setupCPU)
	p("  teardown (delete all -> 0 attached and every host 404): %.2fs (after one-at-a-time adds %.2fs, after bulk setup %.2fs; probe errors %d)",
		r.teardown.Seconds(), r.teardowns[0].Seconds(), r.teardowns[1].Seconds(), r.teardownProbes.errors())
	for i, c := range r.teardownCPU {
		p("    CPU of teardown %d:                %s", i+1, c)
	}
	if r.floorCreates > 0 {
		p("  apiserver floor (the same %d creates and deletes, parentRef to a Gateway that does not exist, so no status writes):", r.n)
		p("    the Create call, one at a time:   %s", summarize(r.floorSerialCreates))
		p("    CPU while creating one at a time: %s", r.floorSerialCPU)
		p("    creates at once done after:       %.2fs (route status writes %d)", r.floorCreates.Seconds(), r.floorStatusWrites)
		p("    CPU of the creates:               %s", r.floorCreateCPU)
		p("    deletes done after:               %.2fs", r.floorDeletes.Seconds())
		p("    CPU of the deletes:               %s", r.floorDeleteCPU)
	}
	p("  memory (largest seen with %d routes attached):", r.n)
	for _, k := range slices.Sorted(maps.Keys(r.mem)) {
		p("    %-56s rss %s (peak %s)", k, mib(r.mem[k].rss), mib(r.mem[k].hwm))
	}
	p("bench-control-plane: propagation_p99_ms=%.1f flip_errors=%d setup_s=%.2f teardown_s=%.2f",
		float64(prop.p99)/float64(time.Millisecond), r.flipErrors(), r.setup.Seconds(), r.teardown.Seconds())
}

func lastErr(t tally) string {
	if t.lastErr == nil {
		return ""
	}
	return fmt.Sprintf("; last failure: %v", t.lastErr)
}

func backendsServed(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	s := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s += fmt.Sprintf("%s %d answers, ", k, m[k])
	}
	both := m[backends[0]] > 0 && m[backends[1]] > 0
	if both {
		return s + "both backends served"
	}
	return s + "NOT both backends served"
}

// perRoute formats operator counter deltas divided by n (n = 1: totals).
func perRoute(m map[string]float64, n int) string {
	if m == nil {
		return "(operator metrics unavailable)"
	}
	d := float64(n)
	// reconciles_total also counts the reconciles the pacer deferred (no work done);
	// the duration histogram's count only those that ran.
	s := fmt.Sprintf("%.1f reconciles (%.1f paced), %.1f ms reconciling (%.1f ms translating), %.1f status writes, %.1f config pushes (all replicas; %.1f as deltas, %.1f KiB; %.1f new snapshots; all namespaces)",
		m["agentgateway_reconcile_seconds_count"]/d, (m["agentgateway_reconciles_total"]-m["agentgateway_reconcile_seconds_count"])/d, 1000*m["agentgateway_reconcile_seconds_sum"]/d, 1000*m["agentgateway_translate_seconds_sum"]/d,
		m["agentgateway_status_writes_total"]/d, m["agentgateway_xds_pushes_total"]/d, m["agentgateway_xds_delta_pushes_total"]/d, m["agentgateway_xds_push_bytes_total"]/d/1024, m["agentgateway_xds_snapshot_changes_total"]/d)
	if all := m["agentgateway_xds_pushes_total"]; all > 0 {
		s += fmt.Sprintf("; %.0f %% of the pushes by the leader", 100*m[leaderPushes]/all)
	}
	if r, e := m[`agentgateway_translate_route_pieces_total{result="reused"}`], m[`agentgateway_translate_route_pieces_total{result="encoded"}`]; r+e > 0 {
		s += fmt.Sprintf("; route pieces %.0f reused, %.0f encoded", r/d, e/d)
	}
	const prefix = `agentgateway_reconcile_step_seconds_sum{step="`
	var steps []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			steps = append(steps, k)
		}
	}
	if len(steps) == 0 {
		return s
	}
	slices.Sort(steps)
	s += "; ms per step:"
	for _, k := range steps {
		s += fmt.Sprintf(" %s %.1f", strings.TrimSuffix(strings.TrimPrefix(k, prefix), `"}`), 1000*m[k]/d)
	}
	return s
}

func sumExcept(m map[string]float64, skip ...string) float64 {
	t := 0.0
	for k, v := range m {
		if !slices.Contains(skip, k) {
			t += v
		}
	}
	return t
}
