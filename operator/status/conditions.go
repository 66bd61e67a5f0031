package status

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mergeConditions returns want with LastTransitionTime taken from old when the condition's
// status did not change, and now otherwise. Conditions of old that want lacks are dropped
// (translation reports every condition it owns), except those of a domain-prefixed type
// ("example.com/Ready"): another controller owns them, so they are kept as they are, after
// ours.
func mergeConditions(old, want []metav1.Condition, now metav1.Time) []metav1.Condition {
	var foreign []metav1.Condition
	for _, c := range old {
		if strings.Contains(c.Type, "/") && meta.FindStatusCondition(want, c.Type) == nil {
			foreign = append(foreign, c)
		}
	}
	if want == nil && foreign == nil {
		return nil
	}
	out := make([]metav1.Condition, len(want), len(want)+len(foreign))
	for i, c := range want {
		if prev := meta.FindStatusCondition(old, c.Type); prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		out[i] = c
	}
	return append(out, foreign...)
}

// pending turns a Programmed=True condition into False/Pending with reason why, keeping
// others as they are.
func pending(conds []metav1.Condition, why string) []metav1.Condition {
	out := make([]metav1.Condition, len(conds))
	copy(out, conds)
	for i := range out {
		if out[i].Type == "Programmed" && out[i].Status == metav1.ConditionTrue {
			out[i].Status = metav1.ConditionFalse
			out[i].Reason = "Pending"
			out[i].Message = "Waiting for the proxies to apply the configuration: " + why
		}
	}
	return out
}

// addressNotProgrammed turns a True or Pending Programmed into False with reason and why:
// an address that is not assigned (AddressNotAssigned) or that the load balancer will not
// assign (AddressNotUsable) outlasts any proxy acknowledgement.
func addressNotProgrammed(conds []metav1.Condition, reason, why string) []metav1.Condition {
	out := make([]metav1.Condition, len(conds))
	copy(out, conds)
	for i := range out {
		if out[i].Type == "Programmed" && (out[i].Status == metav1.ConditionTrue || out[i].Reason == "Pending") {
			out[i].Status = metav1.ConditionFalse
			out[i].Reason = reason
			out[i].Message = why
		}
	}
	return out
}
