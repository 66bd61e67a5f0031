package translate

import (
	"fmt"
	"sort"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

const kindParameters = "AgentgatewayParameters"

// translateGatewayClasses accepts every class whose controllerName is ours, unless its
// parametersRef does not name an existing AgentgatewayParameters (InvalidParameters: the
// class would otherwise deploy proxies the user did not ask for).
func (t *translator) translateGatewayClasses() {
	for i := range t.s.GatewayClasses {
		gc := &t.s.GatewayClasses[i]
		if string(gc.Spec.ControllerName) != t.s.ControllerName {
			continue
		}
		c := &classIR{gc: gc, conds: newConds(gc.Generation), accepted: true}
		c.conds.set(string(gwv1.GatewayClassConditionStatusAccepted), true, string(gwv1.GatewayClassReasonAccepted), "accepted by agentgateway")
		if p := gc.Spec.ParametersRef; p != nil {
			ns := ""
			if p.Namespace != nil {
				ns = string(*p.Namespace)
			}
			switch {
			case string(p.Group) != agwv1a1.GroupName || string(p.Kind) != kindParameters:
				c.accepted = false
				c.conds.set(string(gwv1.GatewayClassConditionStatusAccepted), false, string(gwv1.GatewayClassReasonInvalidParameters),
					fmt.Sprintf("parametersRef must be group %s kind %s, got %s/%s", agwv1a1.GroupName, kindParameters, p.Group, p.Kind))
			case ns == "":
				c.accepted = false
				c.conds.set(string(gwv1.GatewayClassConditionStatusAccepted), false, string(gwv1.GatewayClassReasonInvalidParameters),
					"parametersRef needs a namespace: AgentgatewayParameters is namespaced")
			case t.ix.parameters[nsName{ns, p.Name}] == nil:
				c.accepted = false
				c.conds.set(string(gwv1.GatewayClassConditionStatusAccepted), false, string(gwv1.GatewayClassReasonInvalidParameters),
					fmt.Sprintf("AgentgatewayParameters %s/%s not found; create it or fix parametersRef", ns, p.Name))
			default:
				c.params = ns + "/" + p.Name
			}
		}
		t.classes[gc.Name] = c
	}
	names := sortedKeys(t.classes)
	for _, n := range names {
		c := t.classes[n]
		t.addGatewayClassResult(GatewayClassResult{
			Name:              c.gc.Name,
			Generation:        c.gc.Generation,
			Conditions:        c.conds.list(),
			SupportedFeatures: supportedFeatureList(),
		})
	}
	sort.Slice(t.res.GatewayClasses, func(i, j int) bool { return t.res.GatewayClasses[i].Name < t.res.GatewayClasses[j].Name })
}
