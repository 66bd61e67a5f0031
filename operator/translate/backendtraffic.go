package translate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// xbtpIR is one XBackendTrafficPolicy and what it applied to.
type xbtpIR struct {
	p        *gwxv1a1.XBackendTrafficPolicy
	budget   *config.RetryBudget // nil without retryConstraint
	conflict string              // an older policy targets the same backend
	applied  []*backendIR
	lost     []*backendIR
}

// GEP-3388 defaults, which the CRD applies too; repeated here so a Snapshot written by hand
// (or by an older API server) means the same.
const (
	defaultBudgetPercent = 20
	defaultMinRetries    = 10
)

// applyBackendTrafficPolicies sets the retry budget of the backends (Service or
// AgentgatewayBackend) an XBackendTrafficPolicy targets. The policy is a Direct policy
// without a port: it applies to every port of its Service. The oldest policy wins a backend
// whole; the others are Conflicted there. L4 backends are never retried, so they get none.
func (t *translator) applyBackendTrafficPolicies() {
	for i := range t.s.XBackendTrafficPolicies {
		p := &t.s.XBackendTrafficPolicies[i]
		t.xbtp = append(t.xbtp, &xbtpIR{p: p, budget: budgetFromConstraint(p.Spec.RetryConstraint)})
	}
	sort.Slice(t.xbtp, func(i, j int) bool { return olderFirst(&t.xbtp[i].p.ObjectMeta, &t.xbtp[j].p.ObjectMeta) })
	for _, name := range sortedKeys(t.backends) {
		be := t.backends[name]
		if be.mode == modeL4 || be.mode == modeUDP {
			continue
		}
		var winner *xbtpIR
		for _, x := range t.xbtp {
			if !xbtpTargets(x.p, be) {
				continue
			}
			if winner == nil {
				winner = x
				continue
			}
			x.conflict = fmt.Sprintf("XBackendTrafficPolicy %s/%s is older (or first by name) and targets the same backend", winner.p.Namespace, winner.p.Name)
			x.lost = append(x.lost, be)
		}
		if winner == nil {
			continue
		}
		winner.applied = append(winner.applied, be)
		be.traffic = winner
		be.cfg.RetryBudget = winner.budget
	}
}

func xbtpTargets(p *gwxv1a1.XBackendTrafficPolicy, be *backendIR) bool {
	if p.Namespace != be.target.Namespace {
		return false
	}
	for _, r := range p.Spec.TargetRefs {
		if string(r.Name) != be.target.Name {
			continue
		}
		switch {
		case r.Group == "" && r.Kind == "Service" && be.target.Kind == "Service":
			return true
		case string(r.Group) == agwv1a1.GroupName && r.Kind == "AgentgatewayBackend" && be.target.Kind == "AgentgatewayBackend":
			return true
		}
	}
	return false
}

// budgetFromConstraint maps retryConstraint: budget.percent of the requests of the last
// budget.interval may be retries, and minRetryRate.count per minRetryRate.interval always
// may.
func budgetFromConstraint(rc *gwxv1a1.RetryConstraint) *config.RetryBudget {
	if rc == nil {
		return nil
	}
	out := &config.RetryBudget{Percent: defaultBudgetPercent, MinRetries: defaultMinRetries}
	if b := rc.Budget; b != nil {
		if b.Percent != nil {
			out.Percent = min(max(*b.Percent, 0), 100)
		}
		out.Interval = duration(b.Interval)
	}
	if m := rc.MinRetryRate; m != nil {
		if m.Count != nil {
			out.MinRetries = max(*m.Count, 0)
		}
		out.MinRetryInterval = duration(m.Interval)
	}
	return out
}

// budgetFromPolicy maps an AgentgatewayPolicy traffic.retry.budget. minRetriesPerSecond
// defaults to GEP-3388's minimum rate (10 per second), so a quiet route can still retry.
func budgetFromPolicy(b *agwv1a1.RetryBudget) *config.RetryBudget {
	if b == nil {
		return nil
	}
	out := &config.RetryBudget{Percent: int(min(max(b.Percent, 0), 100)), Interval: duration(b.Interval), MinRetries: defaultMinRetries}
	if b.MinRetriesPerSecond != nil {
		out.MinRetries = int(max(*b.MinRetriesPerSecond, 0))
	}
	return out
}

// xbtpField is the EffectiveConfig view of the policy that set a backend's retry budget.
func xbtpField(be *backendIR) []viewsv1a1.EffectivePolicyField {
	x := be.traffic
	if x == nil || x.p.Spec.RetryConstraint == nil {
		return nil
	}
	v, _ := json.Marshal(x.p.Spec.RetryConstraint) //nolint:errcheck // an API type always encodes
	return []viewsv1a1.EffectivePolicyField{{
		Field:  "retryConstraint",
		Source: fmt.Sprintf("%s/%s (XBackendTrafficPolicy, backend %s)", x.p.Namespace, x.p.Name, be.cfg.Name),
		Value:  string(v),
	}}
}

// backendTrafficStatuses writes one ancestor per Gateway that uses a backend the policy
// targets, as for BackendTLSPolicy (the Gateway is the ancestor of a Service policy).
// sessionPersistence is not implemented: a policy setting only that is not Accepted.
func (t *translator) backendTrafficStatuses(usedBy map[string][]*gatewayIR) {
	for _, x := range t.xbtp {
		gws := map[nsName]bool{} // Gateway -> won there
		for _, be := range x.applied {
			for _, g := range usedBy[be.cfg.Name] {
				gws[g.key] = true
			}
		}
		for _, be := range x.lost {
			for _, g := range usedBy[be.cfg.Name] {
				if _, ok := gws[g.key]; !ok {
					gws[g.key] = false
				}
			}
		}
		if len(gws) == 0 {
			continue
		}
		keys := make([]nsName, 0, len(gws))
		for k := range gws {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		var notes []string
		if x.p.Spec.SessionPersistence != nil { //nolint:staticcheck // deprecated in v1.7.0 but still served: the note says it has no effect
			notes = append(notes, "sessionPersistence is not supported by agentgateway yet and has no effect")
		}
		var anc []gwv1.PolicyAncestorStatus
		for _, k := range keys {
			c := newConds(x.p.Generation)
			switch {
			case !gws[k]:
				c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonConflicted), x.conflict)
			case x.budget == nil:
				c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonInvalid),
					strings.Join(append(notes, "the policy sets nothing agentgateway implements (retryConstraint)"), "; "))
			default:
				c.set(string(gwv1.PolicyConditionAccepted), true, string(gwv1.PolicyReasonAccepted), strings.Join(notes, "; "))
			}
			anc = append(anc, gwv1.PolicyAncestorStatus{AncestorRef: gatewayParentRef(k), ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.list()})
		}
		t.res.Policies = append(t.res.Policies, PolicyResult{
			Key:        ObjectKey{Group: gwxv1a1.GroupName, Kind: "XBackendTrafficPolicy", Namespace: x.p.Namespace, Name: x.p.Name},
			Generation: x.p.Generation, Ancestors: anc,
		})
	}
}
