package translate

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// policyLevel is how specific an attachment is; a higher level wins a field.
type policyLevel int

const (
	levelGateway policyLevel = iota
	levelListener
	levelRoute
	levelRule
	levelInline // ExtensionRef filter on the rule itself
)

var levelNames = [...]string{"Gateway", "Listener", "Route", "Rule", "Inline"}

func (l policyLevel) String() string { return levelNames[l] }

// polAttach is one policy attached at one level.
type polAttach struct {
	pol   *agwv1a1.AgentgatewayPolicy
	level policyLevel
}

type ruleRef struct {
	r *routeIR
	i int
}

// policyState is where every AgentgatewayPolicy attached, and what became of each field.
type policyState struct {
	gateway     map[*gatewayIR][]polAttach
	listener    map[*listenerIR][]polAttach
	route       map[*routeIR][]polAttach
	rule        map[ruleRef][]polAttach
	backend     map[string][]polAttach // by target ObjectKey.String()
	backendPort map[string][]polAttach // by target ObjectKey.String() + ":" + port name
	status      map[*agwv1a1.AgentgatewayPolicy]*polStatus
	traffic     map[*agwv1a1.AgentgatewayPolicy]*policyTraffic // enforced traffic fields, converted
}

// polStatus accumulates what status needs to say about one policy.
type polStatus struct {
	ancestors   map[nsName]bool
	notFound    []notFound
	won         map[string]bool
	lostTo      map[string]string // field -> the same-level policy that won it
	notApplied  map[string]string // field -> why it has no effect
	failClosed  map[string]bool   // fields the proxy cannot enforce: affected rules answer 500
	refErrors   []string
	sectionMiss map[string]string // section -> why it is ignored at this target
	validated   bool
	invalid     []string // field errors of ValidatePolicy: the policy is not attached
}

type notFound struct {
	ref gwv1.ParentReference
	msg string
}

func (ps *policyState) stat(p *agwv1a1.AgentgatewayPolicy) *polStatus {
	s := ps.status[p]
	if s == nil {
		s = &polStatus{ancestors: map[nsName]bool{}, won: map[string]bool{}, lostTo: map[string]string{},
			notApplied: map[string]string{}, failClosed: map[string]bool{}, sectionMiss: map[string]string{}}
		ps.status[p] = s
	}
	return s
}

// attachPolicies resolves every policy's targetRefs and targetSelectors to Gateways,
// listeners, routes, rules and backends, adds the inline ExtensionRef policies of built
// rules, validates each attached policy again (the webhook's checks) and converts the
// traffic fields the proxy enforces, resolving their Secrets and ext-auth backendRef. It
// runs before BackendTLSPolicies so an ext-auth service gets its backend TLS like any
// backend.
func (t *translator) attachPolicies() {
	ps := &policyState{
		gateway: map[*gatewayIR][]polAttach{}, listener: map[*listenerIR][]polAttach{}, route: map[*routeIR][]polAttach{},
		rule: map[ruleRef][]polAttach{}, backend: map[string][]polAttach{}, backendPort: map[string][]polAttach{},
		status: map[*agwv1a1.AgentgatewayPolicy]*polStatus{}, traffic: map[*agwv1a1.AgentgatewayPolicy]*policyTraffic{},
	}
	t.policies = ps
	var routeByKey map[ObjectKey]*routeIR // only policies' targetRefs look routes up
	if len(t.s.Policies) > 0 {
		routeByKey = make(map[ObjectKey]*routeIR, len(t.routes))
		for _, r := range t.routes {
			routeByKey[r.key] = r
		}
	}
	for i := range t.s.Policies {
		p := &t.s.Policies[i]
		ps.stat(p)
		for _, ref := range p.Spec.TargetRefs {
			t.attachPolicy(p, string(ref.Group), string(ref.Kind), string(ref.Name), ref.SectionName, routeByKey)
		}
		for _, sel := range p.Spec.TargetSelectors {
			for _, name := range t.selectTargets(p.Namespace, string(sel.Kind), sel.MatchLabels) {
				t.attachPolicy(p, string(sel.Group), string(sel.Kind), name, nil, routeByKey)
			}
		}
	}
	for _, r := range t.routes {
		if r.built == nil {
			continue
		}
		for i, pols := range r.built.inline {
			for _, p := range pols {
				ps.rule[ruleRef{r, i}] = append(ps.rule[ruleRef{r, i}], polAttach{p, levelInline})
				ps.stat(p)
			}
		}
	}
	all, traffic := ps.attachedPolicies()
	for _, p := range all {
		if t.validatePolicy(p) && traffic[p] {
			t.resolvePolicyTraffic(p)
		}
	}
}

// mergePolicies merges frontend settings per listener and backend settings per backend.
// Traffic settings are merged per rule and listener while the config is assembled
// (mergeRule), because one route can sit on listeners with different Gateway- and
// listener-level policies.
func (t *translator) mergePolicies() {
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			if l.servable() {
				t.mergeFrontend(g, l)
			}
		}
	}
	for _, name := range sortedKeys(t.backends) {
		t.mergeBackend(t.backends[name])
	}
}

// attachPolicy records one target of a policy, or why it did not attach. Targets that exist
// but belong to another controller are silently ignored: their status is not ours to write.
func (t *translator) attachPolicy(p *agwv1a1.AgentgatewayPolicy, group, kind, name string, section *gwv1.SectionName, routes map[ObjectKey]*routeIR) {
	ps := t.policies
	st := ps.stat(p)
	ns := p.Namespace
	sec := string(deref(section, ""))
	missing := func(what string) {
		ref := gwv1.ParentReference{Group: ptr(gwv1.Group(group)), Kind: ptr(gwv1.Kind(kind)), Namespace: ptr(gwv1.Namespace(ns)), Name: gwv1.ObjectName(name), SectionName: section}
		st.notFound = append(st.notFound, notFound{ref, what})
	}
	switch kind {
	case "Gateway":
		g := t.gwByKey[nsName{ns, name}]
		if g == nil {
			if !t.gatewayExists(ns, name) {
				missing(fmt.Sprintf("Gateway %s/%s not found", ns, name))
			}
			return
		}
		if sec == "" {
			ps.gateway[g] = append(ps.gateway[g], polAttach{p, levelGateway})
			st.ancestors[g.key] = true
			return
		}
		for _, l := range g.listeners {
			if l.set == nil && string(l.name) == sec {
				ps.listener[l] = append(ps.listener[l], polAttach{p, levelListener})
				st.ancestors[g.key] = true
				return
			}
		}
		missing(fmt.Sprintf("Gateway %s/%s has no listener %q", ns, name, sec))
	case "ListenerSet":
		s := t.setByKey[nsName{ns, name}]
		if s == nil {
			missing(fmt.Sprintf("ListenerSet %s/%s not found or not attached to an agentgateway Gateway", ns, name))
			return
		}
		found := false
		for _, l := range s.listeners {
			if sec == "" || string(l.name) == sec {
				ps.listener[l] = append(ps.listener[l], polAttach{p, levelListener})
				found = true
			}
		}
		if !found {
			missing(fmt.Sprintf("ListenerSet %s/%s has no listener %q", ns, name, sec))
			return
		}
		st.ancestors[s.gw.key] = true
	case "HTTPRoute", "GRPCRoute":
		r := routes[ObjectKey{Group: gwv1.GroupName, Kind: kind, Namespace: ns, Name: name}]
		if r == nil {
			if !t.routeExists(kind, ns, name) {
				missing(fmt.Sprintf("%s %s/%s not found", kind, ns, name))
			}
			return
		}
		if sec == "" {
			ps.route[r] = append(ps.route[r], polAttach{p, levelRoute})
			return
		}
		names := ruleNamesOf(r)
		for i, n := range names {
			if n == sec {
				ps.rule[ruleRef{r, i}] = append(ps.rule[ruleRef{r, i}], polAttach{p, levelRule})
				return
			}
		}
		missing(fmt.Sprintf("%s %s/%s has no rule named %q", kind, ns, name, sec))
	case "Service", "AgentgatewayBackend":
		key := ObjectKey{Kind: kind, Namespace: ns, Name: name}
		if kind == "AgentgatewayBackend" {
			key.Group = agwv1a1.GroupName
			if t.ix.backends[nsName{ns, name}] == nil {
				missing(fmt.Sprintf("AgentgatewayBackend %s/%s not found", ns, name))
				return
			}
		} else if t.ix.services[nsName{ns, name}] == nil {
			missing(fmt.Sprintf("Service %s/%s not found", ns, name))
			return
		}
		if sec == "" {
			ps.backend[key.String()] = append(ps.backend[key.String()], polAttach{p, levelGateway})
		} else {
			ps.backendPort[key.String()+":"+sec] = append(ps.backendPort[key.String()+":"+sec], polAttach{p, levelListener})
		}
	default:
		missing(fmt.Sprintf("kind %s cannot be targeted", kind))
	}
}

// ruleNamesOf lists a route's rule names (or indexes) from the spec, so a rule target
// resolves even when the route was not built.
func ruleNamesOf(r *routeIR) []string {
	if r.built != nil {
		return r.built.ruleNames
	}
	var out []string
	switch {
	case r.http != nil:
		for i, rule := range r.http.Spec.Rules {
			out = append(out, ruleName(rule.Name, i))
		}
	case r.grpc != nil:
		for i, rule := range r.grpc.Spec.Rules {
			out = append(out, ruleName(rule.Name, i))
		}
	}
	return out
}

// gatewayExists and routeExists tell "missing" from "not ours" for policy targets. The sets
// are built on first use: most translations never need them.
func (t *translator) gatewayExists(ns, name string) bool {
	if t.allGateways == nil {
		t.allGateways = map[nsName]bool{}
		for i := range t.s.Gateways {
			t.allGateways[keyOf(&t.s.Gateways[i].ObjectMeta)] = true
		}
	}
	return t.allGateways[nsName{ns, name}]
}

func (t *translator) routeExists(kind, ns, name string) bool {
	if t.allRoutes == nil {
		t.allRoutes = map[ObjectKey]bool{}
		for i := range t.s.HTTPRoutes {
			t.allRoutes[routeKey("HTTPRoute", &t.s.HTTPRoutes[i].ObjectMeta)] = true
		}
		for i := range t.s.GRPCRoutes {
			t.allRoutes[routeKey("GRPCRoute", &t.s.GRPCRoutes[i].ObjectMeta)] = true
		}
	}
	return t.allRoutes[ObjectKey{Group: "gateway.networking.k8s.io", Kind: kind, Namespace: ns, Name: name}]
}

// selectTargets returns the names of objects of a kind in ns whose labels match. The
// group is checked by attachPolicy, which every selected name goes through.
func (t *translator) selectTargets(ns, kind string, match map[string]string) []string {
	sel := labels.SelectorFromSet(match)
	var out []string
	add := func(objNs, name string, l map[string]string) {
		if objNs == ns && sel.Matches(labels.Set(l)) {
			out = append(out, name)
		}
	}
	switch kind {
	case "Gateway":
		for i := range t.s.Gateways {
			add(t.s.Gateways[i].Namespace, t.s.Gateways[i].Name, t.s.Gateways[i].Labels)
		}
	case "ListenerSet":
		for i := range t.s.ListenerSets {
			add(t.s.ListenerSets[i].Namespace, t.s.ListenerSets[i].Name, t.s.ListenerSets[i].Labels)
		}
	case "HTTPRoute":
		for i := range t.s.HTTPRoutes {
			add(t.s.HTTPRoutes[i].Namespace, t.s.HTTPRoutes[i].Name, t.s.HTTPRoutes[i].Labels)
		}
	case "GRPCRoute":
		for i := range t.s.GRPCRoutes {
			add(t.s.GRPCRoutes[i].Namespace, t.s.GRPCRoutes[i].Name, t.s.GRPCRoutes[i].Labels)
		}
	case "Service":
		for i := range t.s.Services {
			add(t.s.Services[i].Namespace, t.s.Services[i].Name, t.s.Services[i].Labels)
		}
	case "AgentgatewayBackend":
		for i := range t.s.Backends {
			add(t.s.Backends[i].Namespace, t.s.Backends[i].Name, t.s.Backends[i].Labels)
		}
	}
	sort.Strings(out)
	return out
}

// policyField is one set field of a policy section, e.g. traffic.timeouts.
type policyField struct {
	path  string
	value any // pointer to the field value
}

// sectionFields lists the set fields of one section (traffic, frontend or backend) of a
// policy: the unit of merging. Reflection keeps this in step with the API types: a field
// added to the CRD is merged and shown without touching this code.
func sectionFields(p *agwv1a1.AgentgatewayPolicy, section string) []policyField {
	var sec any
	switch section {
	case "traffic":
		sec = p.Spec.Traffic
	case "frontend":
		sec = p.Spec.Frontend
	case "backend":
		sec = p.Spec.Backend
	}
	v := reflect.ValueOf(sec)
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	v = v.Elem()
	var out []policyField
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
		out = append(out, policyField{path: section + "." + name, value: f.Interface()})
	}
	return out
}

// mergedField is the winning value of one field and where it came from.
type mergedField struct {
	policyField
	src  polAttach
	note string // why the field is not applied where it was merged, if it is not
}

// merged is a merge result keyed by field path.
type merged map[string]mergedField

// merge resolves one section over candidate attachments: the most specific level wins each
// field; at the same level the oldest policy (then namespace/name) wins and the others are
// recorded as conflicted for that field. g, when set, becomes an ancestor of every candidate,
// so a policy that failed validation still reports (Accepted=False) where it would apply.
func (t *translator) merge(cands []polAttach, section string, g *gatewayIR) merged {
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].level != cands[j].level {
			return cands[i].level > cands[j].level
		}
		return olderFirst(&cands[i].pol.ObjectMeta, &cands[j].pol.ObjectMeta)
	})
	var out merged // nil until a field is merged: most rules have no policy at all
	for _, c := range cands {
		st := t.policies.stat(c.pol)
		if g != nil {
			st.ancestors[g.key] = true
		}
		if st.invalid != nil {
			continue
		}
		for _, f := range sectionFields(c.pol, section) {
			w, ok := out[f.path]
			switch {
			case !ok:
				if out == nil {
					out = merged{}
				}
				out[f.path] = mergedField{policyField: f, src: c}
				st.won[f.path] = true
			case w.src.pol == c.pol:
			case w.src.level == c.level:
				if _, seen := st.lostTo[f.path]; !seen {
					st.lostTo[f.path] = w.src.pol.Namespace + "/" + w.src.pol.Name
				}
			}
		}
	}
	return out
}

// sectionIgnored records sections a target kind cannot use, so status can say so.
func (t *translator) sectionIgnored(cands []polAttach, section, why string) {
	for _, c := range cands {
		if len(sectionFields(c.pol, section)) > 0 {
			t.policies.stat(c.pol).sectionMiss[section] = why
		}
	}
}

// ruleCandidates are the attachments that reach one rule of a route on one listener.
func (t *translator) ruleCandidates(a *attachment, i int) []polAttach {
	ps := t.policies
	l := a.listener
	var c []polAttach
	c = append(c, ps.gateway[l.gw]...)
	c = append(c, ps.listener[l]...)
	c = append(c, ps.route[a.route]...)
	c = append(c, ps.rule[ruleRef{a.route, i}]...)
	return c
}

func (s *polStatus) note(field, why string) {
	if _, ok := s.notApplied[field]; !ok {
		s.notApplied[field] = why
	}
}
