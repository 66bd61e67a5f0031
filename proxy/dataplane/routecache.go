package dataplane

import (
	"crypto/tls"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy/retrybudget"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// A config push carries every route of the Gateway, but between two pushes usually one
// route changed. The route cache keeps, across reloads, what the serving graph compiled
// for each HTTP route, with a private deep copy of the route it was compiled from. The
// next Apply compares each route with its copy (deepvalue.go) and
//
//   - reuses the compiled rules of an unchanged route, as long as everything they were
//     built with outside the route (backends, retry budgets) is still what a fresh build
//     would get; rules with a traffic policy are always rebuilt;
//   - validates only the new and changed routes (config.ValidateExcept), when nothing a
//     route's validation reads outside the route changed either (validationContext);
//     route keys are checked across all routes, so the errors are exactly
//     config.Validate's.
//
// A config rebuilt from a delta (Runtime.ApplyDelta) comes with the routes the delta left
// alone; when it was built from the serving version, those are known to equal their
// copies and are not compared, so a change to one route of thousands compares one.
//
// Listener TLS settings (certificates parsed into a tls.Config) are kept the same way.
//
// The router table is still built from the whole new config, and the new graph is still
// swapped in atomically: a reused rule handler is immutable and is simply shared by the
// old and the new graph. Handlers are built from the cache's copy, never from the
// caller's config, so a reused handler keeps no old config alive and a caller that
// modifies a config it applied cannot change what the cache compares against.

// routeCache is guarded by Runtime.mu.
type routeCache struct {
	// serving holds the routes of the serving config, per listener in config order
	// (nil for a route that is not cached).
	serving map[listenerID][]*compiledRoute
	// ctx is the validation context of the serving config; nil before the first Apply
	// or when it could not be copied.
	ctx *validationContext
	// tls holds the serving config's listener TLS settings.
	tls map[listenerID]*compiledTLS
	gen uint64
}

// compiledTLS is a listener's TLS settings and the tls.Config built from them (which
// crypto/tls never modifies, so graphs can share it).
type compiledTLS struct {
	cfg  config.ListenerTLS // private deep copy
	http bool
	conf *tls.Config
}

type listenerID struct{ bind, listener string }

// compiledRoute is one route and its compiled rules.
type compiledRoute struct {
	key   string           // EffectiveKey
	route config.HTTPRoute // private deep copy; the rules are built from it
	rules []*compiledRule  // by rule index; nil until built or when not reusable
	// owner is the generation of the plan that created it; a plan modifies only routes
	// it owns and forks the serving ones.
	owner uint64
	// mark is the generation of the last plan that resolved it (to find a route listed
	// twice).
	mark uint64
}

// routeID is what makes a route the next version of a cached one on the same listener:
// the same route object.
type routeID struct{ key, namespace, name string }

func idOf(r *config.HTTPRoute) routeID { return routeID{r.Key, r.Namespace, r.Name} }

// is reports whether r is (a version of) the route e holds.
func (e *compiledRoute) is(r *config.HTTPRoute) bool {
	return e.route.Name == r.Name && e.route.Namespace == r.Namespace && e.route.Key == r.Key
}

type compiledRule struct {
	h    *ruleHandler
	deps ruleDeps
}

// ruleDeps is what buildRule took from the build environment besides the route: a
// compiled rule is reusable while a fresh build would take the same.
type ruleDeps struct {
	noReuse        bool // built with something not tracked here (a traffic policy)
	backends       []backendDep
	backendBudgets []backendBudgetDep
	ruleBudgets    []ruleBudgetDep
}

type backendDep struct {
	name string
	b    *upstream.Backend
}

type backendBudgetDep struct {
	name string
	b    *retrybudget.Budget
}

type ruleBudgetDep struct {
	scope string
	c     *config.RetryBudget // in the cache's copy of the route
	b     *retrybudget.Budget
}

// current reports whether a build in env would take the same things; it marks the rule
// budgets used in env, as a build does.
func (d *ruleDeps) current(env *buildEnv) bool {
	if d.noReuse {
		return false
	}
	for _, x := range d.backends {
		if env.backends[x.name] != x.b {
			return false
		}
	}
	for _, x := range d.backendBudgets {
		if env.backendBudgets[x.name] != x.b {
			return false
		}
	}
	for _, x := range d.ruleBudgets {
		if env.budgets.Get(x.scope, x.c) != x.b {
			return false
		}
	}
	return true
}

// Accessors of buildEnv that buildRule uses, recording what it took.

func (env *buildEnv) backend(name string) *upstream.Backend {
	b := env.backends[name]
	if env.deps != nil {
		env.deps.backends = append(env.deps.backends, backendDep{name, b})
	}
	return b
}

func (env *buildEnv) backendBudget(name string) *retrybudget.Budget {
	b := env.backendBudgets[name]
	if env.deps != nil {
		env.deps.backendBudgets = append(env.deps.backendBudgets, backendBudgetDep{name, b})
	}
	return b
}

func (env *buildEnv) ruleBudget(scope string, c *config.RetryBudget) *retrybudget.Budget {
	b := env.budgets.Get(scope, c)
	if env.deps != nil {
		env.deps.ruleBudgets = append(env.deps.ruleBudgets, ruleBudgetDep{scope, c, b})
	}
	return b
}

func (env *buildEnv) untracked() {
	if env.deps != nil {
		env.deps.noReuse = true
	}
}

var (
	routeOps   deepOps[config.HTTPRoute]
	contextOps deepOps[validationContext]
	tlsOps     deepOps[config.ListenerTLS]
)

// routePlan is the route cache's part of one Apply.
type routePlan struct {
	cache *routeCache
	gen   uint64
	// next becomes the cache's serving routes if the config is applied.
	next map[listenerID][]*compiledRoute
	// byListener has, per listener with HTTP routes, the route entries by route index
	// (nil for a route that cannot be copied, which is built without the cache). They
	// are next's slices.
	byListener map[*config.Listener][]*compiledRoute
	reused     int
	// sameContext: the validation context is the cached one, so ctx is still right.
	sameContext bool
	// nextTLS becomes the cache's serving TLS settings.
	nextTLS map[listenerID]*compiledTLS
}

// resolve finds, for every HTTP route of c, the serving entry of an unchanged route or
// a new entry with a copy of the route. unchanged, when not nil, names routes known to
// equal the serving ones (Runtime.ApplyDelta); they are not compared.
func (rc *routeCache) resolve(c *config.Config, unchanged func(bind, listener, routeKey string) bool) *routePlan {
	rc.gen++
	p := &routePlan{cache: rc, gen: rc.gen, next: make(map[listenerID][]*compiledRoute, len(rc.serving)),
		byListener: map[*config.Listener][]*compiledRoute{}}
	for bi := range c.Binds {
		b := &c.Binds[bi]
		if b.Protocol != config.ProtocolHTTP && b.Protocol != config.ProtocolHTTPS {
			continue // HTTP routes elsewhere are invalid: validated, never cached
		}
		for li := range b.Listeners {
			l := &b.Listeners[li]
			if len(l.HTTPRoutes) == 0 {
				continue
			}
			lid := listenerID{b.Name, l.Name}
			var same func(r *config.HTTPRoute) bool
			if unchanged != nil {
				same = func(r *config.HTTPRoute) bool { return unchanged(lid.bind, lid.listener, r.EffectiveKey()) }
			}
			es := p.resolveListener(rc.serving[lid], l.HTTPRoutes, same)
			p.next[lid] = es
			p.byListener[l] = es
		}
	}
	return p
}

// resolveListener resolves the routes of one listener against the serving entries prev of
// the same listener; same, when not nil, says which routes are known to equal their
// serving entry (they are not compared).
func (p *routePlan) resolveListener(prev []*compiledRoute, routes []config.HTTPRoute, same func(r *config.HTTPRoute) bool) []*compiledRoute {
	es := make([]*compiledRoute, len(routes))
	// Routes keep their order from one config to the next (the operator sorts them): a
	// route's previous version is where the previous route's was, shifted by the routes
	// inserted or removed in between. Routes not found that way are looked up among the
	// previous routes left over.
	var pending []int
	shift := 0
	for ri := range routes {
		r := &routes[ri]
		var old *compiledRoute
		for _, d := range [...]int{0, 1, -1} { // here, or after one insertion or removal
			if j := ri + shift + d; j >= 0 && j < len(prev) && prev[j] != nil && prev[j].is(r) {
				old, shift = prev[j], shift+d
				break
			}
		}
		if old == nil && len(prev) > 0 {
			pending = append(pending, ri)
			continue
		}
		p.use(es, ri, old, r, same)
	}
	if len(pending) > 0 {
		left := make(map[routeID]*compiledRoute, len(pending))
		for _, e := range prev {
			if e != nil && e.mark != p.gen {
				left[idOf(&e.route)] = e
			}
		}
		for _, ri := range pending {
			p.use(es, ri, left[idOf(&routes[ri])], &routes[ri], same)
		}
	}
	return es
}

// use sets es[ri] to old if route r is unchanged from it (same says so, or comparing
// does), to a new entry otherwise (none if r cannot be copied).
func (p *routePlan) use(es []*compiledRoute, ri int, old *compiledRoute, r *config.HTTPRoute, same func(r *config.HTTPRoute) bool) {
	if old != nil && ((same != nil && same(r)) || routeOps.equal(&old.route, r)) {
		old.mark = p.gen
		es[ri] = old
		p.reused++
		return
	}
	if cp, ok := routeOps.clone(r); ok {
		es[ri] = &compiledRoute{key: r.EffectiveKey(), route: cp, rules: make([]*compiledRule, len(cp.Rules)), owner: p.gen, mark: p.gen}
	}
}

// validate validates c; when what route validation reads outside the routes is unchanged,
// the reused routes (equal to routes of the serving config, which passed validation) are
// not checked again.
func (p *routePlan) validate(c *config.Config) error {
	if p.reused > 0 && p.cache.ctx != nil {
		ctx := contextOf(c)
		if contextOps.equal(p.cache.ctx, &ctx) {
			p.sameContext = true
			return c.ValidateExcept(func(bi, li, ri int) bool {
				es := p.byListener[&c.Binds[bi].Listeners[li]]
				return ri < len(es) && es[ri] != nil && es[ri].owner != p.gen
			})
		}
	}
	return c.Validate()
}

// rule returns the compiled rule i of the route at index ri of a listener's entries.
func (p *routePlan) rule(env *buildEnv, es []*compiledRoute, ri, i int) (*ruleHandler, error) {
	e := es[ri]
	if cr := e.rules[i]; cr != nil && cr.deps.current(env) {
		return cr.h, nil
	}
	if e.owner != p.gen {
		// A serving route: the running config's cache entry stays as it is.
		f := &compiledRoute{key: e.key, route: e.route, rules: append([]*compiledRule(nil), e.rules...), owner: p.gen, mark: e.mark}
		es[ri], e = f, f // es is one of next's slices
	}
	deps := &ruleDeps{}
	env.deps = deps
	h, err := buildRule(env, &e.route, i)
	env.deps = nil
	if err != nil {
		return nil, err
	}
	e.rules[i] = nil
	if !deps.noReuse {
		e.rules[i] = &compiledRule{h: h, deps: *deps}
	}
	return h, nil
}

// serverTLS returns the tls.Config of a listener's TLS settings (passed through wrap when
// built), the serving one when they did not change.
func (p *routePlan) serverTLS(id listenerID, t *config.ListenerTLS, http bool, wrap func(*tls.Config) *tls.Config) (*tls.Config, error) {
	if old := p.cache.tls[id]; old != nil && old.http == http && tlsOps.equal(&old.cfg, t) {
		p.keepTLS(id, old)
		return old.conf, nil
	}
	cp, ok := tlsOps.clone(t)
	if !ok {
		conf, err := serverTLS(t, http)
		if err != nil {
			return nil, err
		}
		return wrap(conf), nil
	}
	conf, err := serverTLS(&cp, http)
	if err != nil {
		return nil, err
	}
	conf = wrap(conf)
	p.keepTLS(id, &compiledTLS{cfg: cp, http: http, conf: conf})
	return conf, nil
}

func (p *routePlan) keepTLS(id listenerID, e *compiledTLS) {
	if p.nextTLS == nil {
		p.nextTLS = map[listenerID]*compiledTLS{}
	}
	p.nextTLS[id] = e
}

// commit makes the plan's routes the serving ones once c is applied.
func (p *routePlan) commit(c *config.Config) {
	rc := p.cache
	rc.serving = p.next
	rc.tls = p.nextTLS
	if !p.sameContext {
		rc.ctx = nil
		ctx := contextOf(c)
		if cp, ok := contextOps.clone(&ctx); ok {
			rc.ctx = &cp
		}
	}
}

// validationContext is what validating an HTTP route reads besides the route itself:
// the backends it may name (their endpoints aside) and the bind and listener it is on.
// Validation is per route otherwise, except for the uniqueness of route keys within a
// listener, which config.ValidateExcept checks across every route.
type validationContext struct {
	Backends []config.Backend
	Binds    []config.Bind
}

// contextOf is c's validation context: c without endpoints and HTTP routes. It shares
// memory with c.
func contextOf(c *config.Config) validationContext {
	ctx := validationContext{Backends: make([]config.Backend, len(c.Backends)), Binds: make([]config.Bind, len(c.Binds))}
	for i := range c.Backends {
		ctx.Backends[i] = c.Backends[i]
		ctx.Backends[i].Endpoints = nil
	}
	for i := range c.Binds {
		b := c.Binds[i]
		b.Listeners = make([]config.Listener, len(b.Listeners))
		for j := range c.Binds[i].Listeners {
			l := c.Binds[i].Listeners[j]
			l.HTTPRoutes = nil
			b.Listeners[j] = l
		}
		ctx.Binds[i] = b
	}
	return ctx
}

// routeIndex is the index of r in rs, searching from *cur (routes are built in order).
func routeIndex(rs []config.HTTPRoute, r *config.HTTPRoute, cur *int) int {
	for i := *cur; i < len(rs); i++ {
		if &rs[i] == r {
			*cur = i
			return i
		}
	}
	for i := 0; i < *cur && i < len(rs); i++ {
		if &rs[i] == r {
			*cur = i
			return i
		}
	}
	return -1
}
