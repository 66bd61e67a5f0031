package dataplane

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/l4"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// A generation is one applied config and everything built for it. Apply
// builds the next generation beside the serving one (prepare), then either
// swaps it in whole (commit) or throws it away with everything it created
// (discard). What prepare creates or changes:
//
//   - the graph: routes, filters, traffic policies and listener TLS
//     settings (certificates parsed), compiled from the config, reusing the
//     route cache's compiled routes (routePlan; the cache changes on commit);
//   - backends: upstream.Pool.Prepare reuses unchanged backends and builds
//     changed ones; the pool changes on commit (Commit retires the unused
//     ones) and Discard retires the new ones;
//   - rate limiters, retry budgets and ext-auth gRPC connections: staged
//     copies of the serving sets (txn_sets.go);
//   - servers: binds whose identity is unchanged are kept and their L4
//     routes compiled (server.update applies them on commit); other binds get a new server
//     with its socket open (or a duplicate of a dropped bind's socket on the
//     same address, txn_socket.go) that does not serve until commit.
//
// Nothing a request or connection of the serving generation reads is
// changed before commit, and commit itself cannot fail.
type generation struct {
	rt       *Runtime
	number   uint64
	config   *config.Config
	plan     *routePlan
	backends map[string]*upstream.Backend
	sets     *stagedSets
	graph    *graph

	kept    map[string]*server // serving servers the generation keeps, by bind
	opened  []*server          // new servers: socket open, not serving
	retired []*server          // serving servers the generation drops
	sockets *handover          // sockets of retired servers, for opened ones
}

// generationMetrics describe the serving generation.
type generationMetrics struct {
	number prometheus.Gauge
}

func newGenerationMetrics(reg prometheus.Registerer) *generationMetrics {
	m := &generationMetrics{number: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "agentgateway_config_generation",
		Help: "Number of the serving config generation: configs applied since start; a rejected config leaves it as it is.",
	})}
	if reg != nil {
		reg.MustRegister(m.number)
	}
	return m
}

// Generation returns the number of the serving generation (0 before the
// first Apply; each applied config adds one) and its config's version.
func (rt *Runtime) Generation() (uint64, string) {
	g := rt.graph.Load()
	return g.generation, g.config.Version
}

// prepare builds the generation of c beside the serving one. On error
// everything it created is released and the serving generation is as it
// was. Called with Runtime.mu held.
func (rt *Runtime) prepare(c *config.Config, base string, unchanged func(bind, listener, routeKey string) bool) (*generation, error) {
	serving := rt.graph.Load()
	if base == "" || serving.config.Version != base {
		unchanged = nil
	}
	plan := rt.routes.resolve(c, unchanged)
	if err := plan.validate(c); err != nil {
		return nil, err
	}
	if rt.closed {
		return nil, ErrClosed
	}
	gen := &generation{rt: rt, number: serving.generation + 1, config: c, plan: plan}
	if err := gen.build(serving); err != nil {
		gen.discard()
		return nil, err
	}
	return gen, nil
}

func (gen *generation) build(serving *graph) error {
	rt, c := gen.rt, gen.config
	backends, err := rt.pool.Prepare(c.Backends)
	if err != nil {
		return fmt.Errorf("compile backends: %w", err)
	}
	gen.backends = backends
	gen.sets = rt.stageSets()
	if err := gen.sets.mcp.build(c.Backends, backends, rt.mcpOptions()); err != nil {
		return err
	}
	env := &buildEnv{backends: backends, metrics: rt.metrics, slots: rt.slots, log: rt.log, limiters: gen.sets.limits, authz: gen.sets.authz,
		budgets: gen.sets.budgets, backendBudgets: backendBudgets(gen.sets.budgets, c.Backends), auth: backendAuths(c.Backends), mcp: gen.sets.mcp.byName,
		exporters: gen.sets.exporters}
	g, err := compile(c, env, gen.plan)
	if err != nil {
		return fmt.Errorf("compile config %s: %w", c.Version, err)
	}
	g.generation = gen.number
	gen.graph = g
	return gen.prepareBinds(serving.config)
}

// prepareBinds sorts the serving servers into kept and retired, checks the
// kept L4 servers' new routes and opens the sockets of the new binds.
func (gen *generation) prepareBinds(old *config.Config) error {
	rt, c, g := gen.rt, gen.config, gen.graph
	gen.kept = map[string]*server{}
	gen.sockets = newHandover()
	for name, s := range rt.servers {
		b := bindByName(c, name)
		if b != nil && bindIdentity(b) == s.identity {
			gen.kept[name] = s
			continue
		}
		gen.retired = append(gen.retired, s)
		if ob := bindByName(old, name); ob != nil {
			gen.sockets.add(s, net.JoinHostPort(ob.Address, strconv.Itoa(ob.Port)), ob.Port)
		}
	}
	for name, s := range gen.kept {
		if err := s.checkUpdate(bindByName(c, name), g.binds[name], g); err != nil {
			return fmt.Errorf("bind %s: %w", name, err)
		}
	}
	rt.building = gen.sockets
	defer func() { rt.building = nil }()
	for i := range c.Binds {
		b := &c.Binds[i]
		if _, ok := gen.kept[b.Name]; ok {
			continue
		}
		s, err := rt.listen(b, g.binds[b.Name], g)
		if err != nil {
			return err
		}
		gen.opened = append(gen.opened, s)
	}
	return nil
}

// checkUpdate compiles the L4 routes a kept server takes from g, as
// server.update does on commit, so that update cannot fail then. HTTP
// servers read the graph per request and need nothing.
func (s *server) checkUpdate(b *config.Bind, bs *bindState, g *graph) error {
	switch {
	case s.tcp != nil:
		cfg, err := l4Config(b, bs, g, s)
		if err != nil {
			return err
		}
		check, err := l4.NewServer(cfg, nil)
		if err != nil {
			return err
		}
		check.Close() //nolint:errcheck // it never served: closing only cancels its context
	case s.udp != nil:
		cfg, err := udpConfig(b, g, s)
		if err != nil {
			return err
		}
		if _, err := l4.NewUDPServer(cfg, nil); err != nil { // holds nothing until it serves
			return err
		}
	}
	return nil
}

// discard releases what prepare created: the new servers' sockets (a
// duplicated socket stays open for the server it was duplicated from), the
// new backends and the staged sets. The route plan needs nothing: the route
// cache changes only on commit.
func (gen *generation) discard() {
	for _, s := range gen.opened {
		if s.tcp != nil {
			s.tcp.Close() //nolint:errcheck // a server that never served has nothing to close but its context
		}
		if s.cancelBase != nil {
			s.cancelBase() // the base context of its HTTP requests
		}
		s.closeSocket()
	}
	if gen.backends != nil {
		gen.rt.pool.Discard(gen.backends)
	}
	if gen.sets != nil {
		gen.sets.discard(gen.rt)
	}
}

// commit swaps the generation in: the graph with one atomic store, then the
// bind states, L4 routes, backend pool, route cache and sets. Retired
// servers stop accepting before the servers that took over their sockets
// start, and then drain. Called with Runtime.mu held.
func (rt *Runtime) commit(gen *generation) (old *graph) {
	g := gen.graph
	old = rt.graph.Swap(g)
	for name, s := range gen.kept {
		s.state.Store(g.binds[name])
		if err := s.update(bindByName(gen.config, name), g.binds[name], g); err != nil {
			// The same routes compiled in prepare: a bug, which leaves the bind on its
			// previous routes.
			rt.log.Error("updating the routes of a bind failed after they compiled", "bind", name, "error", err)
		}
	}
	for _, s := range gen.opened {
		s.state.Store(g.binds[s.name])
	}
	rt.pool.Commit(gen.backends)
	gen.plan.commit(gen.config)
	gen.sets.commit(rt)
	for _, s := range gen.retired {
		delete(rt.servers, s.name)
		if s.ln != nil {
			s.ln.Close() // stop accepting; a server that took the socket over accepts from now on
		}
	}
	for _, s := range gen.opened {
		rt.servers[s.name] = s
		go s.serve()
	}
	for _, s := range gen.retired {
		if (s.pc != nil || s.h3pc != nil) && gen.sockets.tookOver(s) {
			// Both servers read the shared UDP socket until this one is
			// gone, so it drains now (as long as its sessions last, at
			// most DrainTimeout) instead of in the background.
			ctx, cancel := context.WithTimeout(context.Background(), rt.opts.DrainTimeout)
			s.shutdown(ctx)
			cancel()
			continue
		}
		rt.drain(s)
	}
	rt.genMetrics.number.Set(float64(gen.number))
	return old
}
