package translate

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// translateListenerSets finds the ListenerSets whose parentRef is one of our Gateways, checks
// the Gateway's allowedListeners, and orders them as the spec's listener precedence says
// (oldest first, then namespace/name) so conflicts resolve in their favour.
func (t *translator) translateListenerSets() {
	for i := range t.s.ListenerSets {
		ls := &t.s.ListenerSets[i]
		p := ls.Spec.ParentRef
		if p.Group != nil && *p.Group != gwv1.GroupName || p.Kind != nil && *p.Kind != "Gateway" {
			continue
		}
		ns := ls.Namespace
		if p.Namespace != nil && *p.Namespace != "" {
			ns = string(*p.Namespace)
		}
		g := t.gwByKey[nsName{ns, string(p.Name)}]
		if g == nil {
			continue
		}
		s := &listenerSetIR{ls: ls, key: keyOf(&ls.ObjectMeta), gw: g, conds: newConds(ls.Generation)}
		s.allowed = t.listenerSetAllowed(g, ls.Namespace)
		acc := string(gwv1.ListenerSetConditionAccepted)
		if s.allowed {
			s.conds.set(acc, true, string(gwv1.ListenerSetReasonAccepted), "accepted by agentgateway")
		} else {
			s.conds.set(acc, false, string(gwv1.ListenerSetReasonNotAllowed),
				fmt.Sprintf("Gateway %s does not allow ListenerSets from namespace %s (spec.allowedListeners)", g.key, ls.Namespace))
		}
		if !g.accepted() {
			s.conds.set(acc, false, string(gwv1.ListenerSetReasonParentNotAccepted), fmt.Sprintf("Gateway %s is not accepted", g.key))
		}
		t.sets = append(t.sets, s)
		t.setByKey[s.key] = s
		g.sets = append(g.sets, s)
	}
	sort.Slice(t.sets, func(i, j int) bool {
		a, b := t.sets[i].key, t.sets[j].key
		return a.ns < b.ns || (a.ns == b.ns && a.name < b.name)
	})
	for _, g := range t.gateways {
		sort.Slice(g.sets, func(i, j int) bool { return olderFirst(&g.sets[i].ls.ObjectMeta, &g.sets[j].ls.ObjectMeta) })
	}
}

// listenerSetAllowed applies Gateway spec.allowedListeners (default: none).
func (t *translator) listenerSetAllowed(g *gatewayIR, ns string) bool {
	al := g.gw.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil {
		return false
	}
	return t.namespaceAllowed(*al.Namespaces.From, al.Namespaces.Selector, g.key.ns, ns)
}

// namespaceAllowed implements the From/Selector rule shared by allowedRoutes and
// allowedListeners.
func (t *translator) namespaceAllowed(from gwv1.FromNamespaces, sel *metav1.LabelSelector, ownNs, ns string) bool {
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return ownNs == ns
	case gwv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		return s.Matches(labels.Set(t.ix.namespaceLabels(ns)))
	}
	return false
}
