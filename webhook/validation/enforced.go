package validation

import (
	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// notEnforced are the policy fields this proxy version accepts but does not enforce: none
// today. The operator's translator reports such a field in the policy's status (its
// notEnforced note, operator/translate, for a field it has no mapping for); the webhook
// warns about it at apply time. The list is kept equal to the translator's by
// TestNotEnforcedMatchesTranslation.
var notEnforced = []struct {
	path string
	set  func(*v1alpha1.AgentgatewayPolicySpec) bool
}{}

// notEnforcedWarnings lists the fields of p that are accepted but not enforced.
func notEnforcedWarnings(p *v1alpha1.AgentgatewayPolicy) []string {
	var out []string
	for _, f := range notEnforced {
		if f.set(&p.Spec) {
			out = append(out, f.path+": not enforced by this proxy version: the policy is accepted and its status lists the field, but requests behave as if it were unset")
		}
	}
	return out
}
