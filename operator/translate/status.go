package translate

import (
	"fmt"
	"sort"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// reportStatus turns what the steps recorded into Result entries, sorted for determinism.
// It runs last because policy and BackendTLSPolicy ancestors are only known once every
// Gateway's config is assembled.
func (t *translator) reportStatus() {
	t.gatewayStatuses()
	t.listenerSetStatuses()
	t.routeStatuses()
	t.policyStatuses()
	t.backendTLSStatuses(t.usedBy)
	t.backendTrafficStatuses(t.usedBy)
	t.telemetryStatuses()
	t.backendStatuses()
	t.xbackendStatuses()
	sort.Slice(t.res.Policies, func(i, j int) bool { return lessKey(t.res.Policies[i].Key, t.res.Policies[j].Key) })
}

func (t *translator) gatewayStatuses() {
	for _, g := range t.gateways {
		acc := string(gwv1.GatewayConditionAccepted)
		prog := string(gwv1.GatewayConditionProgrammed)
		var bad []string
		usable := 0
		for _, l := range g.listeners {
			if l.set != nil {
				continue
			}
			if l.usable() {
				usable++
			}
			if !l.servable() {
				bad = append(bad, string(l.name))
			}
		}
		if g.accepted() && len(bad) > 0 {
			msg := "invalid listeners: " + strings.Join(bad, ", ")
			g.conds.set(acc, usable > 0, string(gwv1.GatewayReasonListenersNotValid), msg)
		}
		if _, set := g.conds.get(prog); !set {
			switch {
			case !g.accepted() && usable == 0 && len(bad) > 0:
				g.conds.set(prog, false, string(gwv1.GatewayReasonInvalid), "no valid listeners: the proxies serve nothing")
			case !g.accepted():
				g.conds.set(prog, false, string(gwv1.GatewayReasonInvalid), "the Gateway is not accepted")
			default:
				g.conds.set(prog, true, string(gwv1.GatewayReasonProgrammed), "")
			}
		}
		gr := GatewayResult{
			Namespace: g.key.ns, Name: g.key.name, Generation: g.gw.Generation, ClassName: string(g.gw.Spec.GatewayClassName),
			ParametersRef: g.parametersRef(), Config: g.config, Encoded: g.encoded, Conditions: g.conds.list(), Ports: g.ports, Effective: g.effective,
		}
		for _, l := range g.listeners {
			if l.set != nil {
				continue
			}
			gr.Listeners = append(gr.Listeners, gwv1.ListenerStatus{Name: l.name, SupportedKinds: l.kinds, AttachedRoutes: l.attached, Conditions: l.conds.list()})
		}
		// Listeners not in the merged set (never: Gateway listeners are always in it) would
		// be missing here; keep spec order by construction.
		for _, s := range g.sets {
			if s.allowed && !s.conds.isFalse(string(gwv1.ListenerSetConditionAccepted)) && s.anyUsable() {
				gr.AttachedListenerSets++
			}
		}
		t.res.Gateways = append(t.res.Gateways, gr)
	}
}

// anyUsable says whether the ListenerSet contributes at least one listener the proxy serves;
// a set whose every listener is invalid (conflicted, unresolved certificates, ...) is not
// Accepted (ListenersNotValid).
func (s *listenerSetIR) anyUsable() bool {
	for _, l := range s.listeners {
		if l.servable() {
			return true
		}
	}
	return false
}

func (t *translator) listenerSetStatuses() {
	for _, s := range t.sets {
		acc := string(gwv1.ListenerSetConditionAccepted)
		if !s.conds.isFalse(acc) && !s.anyUsable() {
			s.conds.set(acc, false, string(gwv1.ListenerSetReasonListenersNotValid), "no listener of this ListenerSet is valid")
		}
		prog := string(gwv1.ListenerSetConditionProgrammed)
		if c, _ := s.conds.get(acc); s.conds.isFalse(acc) {
			// Same reason as Accepted (NotAllowed, ListenersNotValid, ParentNotAccepted): the
			// ListenerSet is not programmed for the same cause.
			s.conds.set(prog, false, c.Reason, c.Message)
		} else {
			s.conds.set(prog, true, string(gwv1.ListenerSetReasonProgrammed), "")
		}
		r := ListenerSetResult{Namespace: s.key.ns, Name: s.key.name, Generation: s.ls.Generation, Conditions: s.conds.list()}
		for _, l := range s.listeners {
			if _, ok := l.conds.get(condProgrammed); !ok {
				l.conds.set(condProgrammed, false, string(gwv1.ListenerReasonInvalid), "the listener is not accepted")
			}
			r.Listeners = append(r.Listeners, gwv1.ListenerEntryStatus{Name: l.name, SupportedKinds: l.kinds, AttachedRoutes: l.attached, Conditions: l.conds.list()})
		}
		t.res.ListenerSets = append(t.res.ListenerSets, r)
	}
}

func (t *translator) routeStatuses() {
	if len(t.routes) > 0 {
		t.res.Routes = make([]RouteResult, 0, len(t.routes))
	}
	for _, r := range t.routes {
		rr := RouteResult{Key: r.key, Generation: r.meta.Generation}
		if len(r.parents) > 0 {
			rr.Parents = make([]gwv1.RouteParentStatus, 0, len(r.parents))
		}
		resolved, _ := r.resolved.get(string(gwv1.RouteConditionResolvedRefs))
		for _, p := range r.parents {
			// The parent's conditions plus the route-wide ones become the status. Nothing
			// reads the parent's conditions after this, so they are added in place.
			c := &p.conds
			if r.rejected != "" && !c.isFalse(string(gwv1.RouteConditionAccepted)) {
				c.set(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonUnsupportedValue), r.rejected)
			}
			c.put(resolved)
			sortConds(c.l)
			rr.Parents = append(rr.Parents, gwv1.RouteParentStatus{ParentRef: p.ref, ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.l})
		}
		t.res.Routes = append(t.res.Routes, rr)
	}
}

// policyStatuses writes one ancestor per Gateway a policy reaches, plus one per missing
// target (with the target as ancestorRef, since there is no Gateway to name).
func (t *translator) policyStatuses() {
	pols := make([]*agwv1a1.AgentgatewayPolicy, 0, len(t.policies.status))
	for p := range t.policies.status {
		pols = append(pols, p)
	}
	sort.Slice(pols, func(i, j int) bool {
		return pols[i].Namespace < pols[j].Namespace || pols[i].Namespace == pols[j].Namespace && pols[i].Name < pols[j].Name
	})
	for _, p := range pols {
		st := t.policies.status[p]
		var anc []gwv1.PolicyAncestorStatus
		keys := make([]nsName, 0, len(st.ancestors))
		for k := range st.ancestors {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		accepted, reason, msg := st.summary()
		for _, k := range keys {
			c := newConds(p.Generation)
			c.set(string(gwv1.PolicyConditionAccepted), accepted, reason, msg)
			if len(st.refErrors) > 0 {
				c.set("ResolvedRefs", false, "InvalidReference", strings.Join(dedupe(st.refErrors), "; "))
			}
			anc = append(anc, gwv1.PolicyAncestorStatus{AncestorRef: gatewayParentRef(k), ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.list()})
		}
		for _, nf := range st.notFound {
			c := newConds(p.Generation)
			c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonTargetNotFound), nf.msg)
			anc = append(anc, gwv1.PolicyAncestorStatus{AncestorRef: nf.ref, ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.list()})
		}
		if len(anc) == 0 {
			continue
		}
		t.res.Policies = append(t.res.Policies, PolicyResult{
			Key:        ObjectKey{Group: agwv1a1.GroupName, Kind: "AgentgatewayPolicy", Namespace: p.Namespace, Name: p.Name},
			Generation: p.Generation, Ancestors: anc,
		})
	}
}

// summary decides a policy's Accepted condition: Invalid when it fails the webhook's
// validation (it is not attached at all) or references something that cannot be used (the
// rules or backends it applies to answer 500); Conflicted when every field it sets lost to
// an older policy at the same level; Accepted otherwise, with a message listing fields that
// are overridden, not enforced, or answered with 500.
func (s *polStatus) summary() (bool, string, string) {
	if len(s.invalid) > 0 {
		return false, string(gwv1.PolicyReasonInvalid), "the policy is not applied and the rules its traffic section reaches answer 500 until it is fixed (the admission webhook rejects it): " + strings.Join(s.invalid, "; ")
	}
	notes := dedupe(s.refErrors)
	broken := len(notes) > 0
	lost := sortedKeys(s.lostTo)
	for _, f := range lost {
		if !s.won[f] {
			notes = append(notes, fmt.Sprintf("%s is overridden by %s (same level, older or first by name)", f, s.lostTo[f]))
		}
	}
	for _, f := range sortedKeys(s.failClosed) {
		notes = append(notes, f+" cannot be enforced by this proxy version: requests it applies to are answered with 500")
	}
	for _, f := range sortedKeys(s.notApplied) {
		notes = append(notes, f+": "+s.notApplied[f])
	}
	for _, sec := range sortedKeys(s.sectionMiss) {
		notes = append(notes, sec+": "+s.sectionMiss[sec])
	}
	msg := strings.Join(notes, "; ")
	if broken {
		return false, string(gwv1.PolicyReasonInvalid), msg
	}
	if len(s.won) == 0 && len(lost) > 0 {
		return false, string(gwv1.PolicyReasonConflicted), msg
	}
	return true, string(gwv1.PolicyReasonAccepted), msg
}

// dedupe drops repeated strings, keeping the first of each.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
