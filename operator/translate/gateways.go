package translate

import (
	"fmt"
	"sort"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// translateGateways picks the Gateways of our accepted classes. A Gateway of a class of ours
// that is not accepted gets Accepted=False too (so the user sees why nothing happens); a
// Gateway of anybody else's class is not looked at again.
func (t *translator) translateGateways() {
	for i := range t.s.Gateways {
		gw := &t.s.Gateways[i]
		c := t.classes[string(gw.Spec.GatewayClassName)]
		if c == nil {
			continue
		}
		g := &gatewayIR{gw: gw, key: keyOf(&gw.ObjectMeta), class: c, conds: newConds(gw.Generation)}
		accepted := string(gwv1.GatewayConditionAccepted)
		g.conds.set(accepted, true, string(gwv1.GatewayReasonAccepted), "accepted by agentgateway")
		if !c.accepted {
			g.conds.set(accepted, false, string(gwv1.GatewayReasonInvalidParameters),
				fmt.Sprintf("GatewayClass %s is not accepted; see its status", c.gc.Name))
		}
		if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
			p := inf.ParametersRef
			switch {
			case string(p.Group) != agwv1a1.GroupName || string(p.Kind) != kindParameters:
				g.conds.set(accepted, false, string(gwv1.GatewayReasonInvalidParameters),
					fmt.Sprintf("infrastructure.parametersRef must be group %s kind %s, got %s/%s", agwv1a1.GroupName, kindParameters, p.Group, p.Kind))
			case t.ix.parameters[nsName{gw.Namespace, p.Name}] == nil:
				g.conds.set(accepted, false, string(gwv1.GatewayReasonInvalidParameters),
					fmt.Sprintf("AgentgatewayParameters %s/%s not found; create it or fix infrastructure.parametersRef", gw.Namespace, p.Name))
			}
		}
		for _, a := range gw.Spec.Addresses {
			if a.Type != nil && *a.Type != gwv1.IPAddressType && *a.Type != gwv1.HostnameAddressType {
				g.conds.set(accepted, false, string(gwv1.GatewayReasonUnsupportedAddress),
					fmt.Sprintf("address type %q is not supported; use IPAddress or Hostname", *a.Type))
			}
		}
		t.gateways = append(t.gateways, g)
		t.gwByKey[g.key] = g
	}
	sort.Slice(t.gateways, func(i, j int) bool {
		a, b := t.gateways[i].key, t.gateways[j].key
		return a.ns < b.ns || (a.ns == b.ns && a.name < b.name)
	})
}

func (g *gatewayIR) accepted() bool { return !g.conds.isFalse(string(gwv1.GatewayConditionAccepted)) }

// parametersRef is the AgentgatewayParameters the deployer should use: the Gateway's own,
// else the class's.
func (g *gatewayIR) parametersRef() string {
	if inf := g.gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
		return g.key.ns + "/" + inf.ParametersRef.Name
	}
	return g.class.params
}
