package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// sectionTargets says which target kinds use each section of a policy. The operator's
// translator ignores a section at other targets and says so in the policy's status
// (operator/translate, sectionIgnored); the webhook warns about it at apply time. The
// frontend section needs no entry: the CRD schema rejects it on targets other than Gateways
// and ListenerSets.
var sectionTargets = []struct {
	section string
	kinds   map[string]bool
	why     string
}{
	{
		section: "backend",
		kinds:   map[string]bool{"Service": true, "AgentgatewayBackend": true},
		why:     "backend settings take effect only on Service or AgentgatewayBackend targets",
	},
	{
		section: "traffic",
		kinds:   map[string]bool{"Gateway": true, "ListenerSet": true, "HTTPRoute": true, "GRPCRoute": true},
		why:     "traffic settings take effect on Gateway, listener, route and rule targets, not on backends",
	},
}

// targetWarnings lists the sections of p that some of its targets ignore, one warning per
// section naming those targets. A policy without targets is used inline, through an
// HTTPRoute ExtensionRef filter, where only the traffic section applies.
func targetWarnings(p *v1alpha1.AgentgatewayPolicy) []string {
	spec := field.NewPath("spec")
	set := map[string]bool{"backend": p.Spec.Backend != nil, "traffic": p.Spec.Traffic != nil}
	var out []string
	for _, s := range sectionTargets {
		if !set[s.section] {
			continue
		}
		var ignored []string
		for i, r := range p.Spec.TargetRefs {
			if !s.kinds[string(r.Kind)] {
				ignored = append(ignored, fmt.Sprintf("%s (%s %s)", spec.Child("targetRefs").Index(i), r.Kind, r.Name))
			}
		}
		for i, sel := range p.Spec.TargetSelectors {
			if !s.kinds[string(sel.Kind)] {
				ignored = append(ignored, fmt.Sprintf("%s (every %s selected)", spec.Child("targetSelectors").Index(i), sel.Kind))
			}
		}
		path := spec.Child(s.section).String()
		switch {
		case len(ignored) > 0:
			out = append(out, fmt.Sprintf("%s: ignored at %s: %s", path, strings.Join(ignored, ", "), s.why))
		case len(p.Spec.TargetRefs) == 0 && len(p.Spec.TargetSelectors) == 0 && s.section == "backend":
			out = append(out, path+": ignored: a policy without targetRefs or targetSelectors applies only inline, through an HTTPRoute ExtensionRef filter, and "+s.why)
		}
	}
	return out
}
