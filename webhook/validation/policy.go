// Package validation checks the CEL expressions of agentgateway objects with
// the proxy's own environment (proxy/cel), so what admission accepts is what
// the proxy runs. The admission webhook and the operator's translator both
// call it; its results are field errors with exact paths, for example
// spec.traffic.transformation.request.set[0].value.
package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/cel"
)

// ValidatePolicy checks every CEL field of p against the phase it runs in
// and the type it must return. It returns one error per problem and the
// soft findings as warnings ("<path>: <message>"), among them the sections
// that some of p's targets ignore (a backend section on a Gateway, traffic
// on a Service) and the fields this proxy version does not enforce.
//
// Which phase each field runs in:
//
//	spec.frontend.accessLog.filter                        AccessLog            Condition
//	spec.frontend.accessLog.attributes[*].expression      AccessLog            Any
//	spec.frontend.tracing.condition                       Tracing              Condition
//	spec.frontend.tracing.attributes[*].expression        Tracing              Any
//	spec.traffic.transformation.request.when              RequestHeaders       Condition
//	spec.traffic.transformation.request.set[*].value      RequestHeaders       HeaderValue
//	spec.traffic.transformation.request.add[*].value      RequestHeaders       HeaderValue
//	spec.traffic.transformation.request.body              RequestBody          Body
//	spec.traffic.transformation.response.when             Response             Condition
//	spec.traffic.transformation.response.set[*].value     Response             HeaderValue
//	spec.traffic.transformation.response.add[*].value     Response             HeaderValue
//	spec.traffic.transformation.response.body             Response             Body
//	spec.traffic.authorization.rules[*]                   Authorization        Condition
//	spec.traffic.mcpAuthorization.rules[*]                MCPAuthorization     Condition
//	spec.traffic.rateLimit.local[*].key                   RateLimitDescriptor  RateLimitKey
//	spec.traffic.rateLimit.global.descriptors[*].entries[*].value
//	                                                      RateLimitDescriptor  RateLimitKey
//
// When request rules replace the body, the proxy buffers the body before
// applying any of them, so all request rules of that policy (when, set, add
// and body) run in phase RequestBody and may read request.body.
func ValidatePolicy(p *v1alpha1.AgentgatewayPolicy) (field.ErrorList, []string) {
	v := &validator{}
	spec := field.NewPath("spec")
	if fe := p.Spec.Frontend; fe != nil && fe.AccessLog != nil {
		path := spec.Child("frontend", "accessLog")
		v.optional(path.Child("filter"), cel.PhaseAccessLog, cel.KindCondition, fe.AccessLog.Filter)
		for i, a := range fe.AccessLog.Attributes {
			v.check(path.Child("attributes").Index(i).Child("expression"), cel.PhaseAccessLog, cel.KindAny, a.Expression)
		}
	}
	if fe := p.Spec.Frontend; fe != nil && fe.Tracing != nil {
		path := spec.Child("frontend", "tracing")
		v.optional(path.Child("condition"), cel.PhaseTracing, cel.KindCondition, fe.Tracing.Condition)
		for i, a := range fe.Tracing.Attributes {
			v.optional(path.Child("attributes").Index(i).Child("expression"), cel.PhaseTracing, cel.KindAny, a.Expression)
		}
	}
	if tr := p.Spec.Traffic; tr != nil {
		path := spec.Child("traffic")
		if t := tr.Transformation; t != nil {
			if r := t.Request; r != nil {
				phase := cel.PhaseRequestHeaders
				if r.Body != nil {
					phase = cel.PhaseRequestBody
				}
				v.rules(path.Child("transformation", "request"), phase, cel.PhaseRequestBody, r)
			}
			if r := t.Response; r != nil {
				v.rules(path.Child("transformation", "response"), cel.PhaseResponse, cel.PhaseResponse, r)
			}
		}
		if a := tr.Authorization; a != nil {
			for i, rule := range a.Rules {
				v.check(path.Child("authorization", "rules").Index(i), cel.PhaseAuthorization, cel.KindCondition, rule)
			}
		}
		if a := tr.MCPAuthorization; a != nil {
			for i, rule := range a.Rules {
				v.check(path.Child("mcpAuthorization", "rules").Index(i), cel.PhaseMCPAuthorization, cel.KindCondition, rule)
			}
		}
		if rl := tr.RateLimit; rl != nil {
			for i, l := range rl.Local {
				v.optional(path.Child("rateLimit", "local").Index(i).Child("key"), cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, l.Key)
			}
			if g := rl.Global; g != nil {
				for i, d := range g.Descriptors {
					for j, e := range d.Entries {
						v.check(path.Child("rateLimit", "global", "descriptors").Index(i).Child("entries").Index(j).Child("value"), cel.PhaseRateLimitDescriptor, cel.KindRateLimitKey, e.Value)
					}
				}
			}
		}
	}
	v.warnings = append(v.warnings, targetWarnings(p)...)
	v.warnings = append(v.warnings, notEnforcedWarnings(p)...)
	return v.errs, v.warnings
}

type validator struct {
	errs     field.ErrorList
	warnings []string
}

func (v *validator) rules(path *field.Path, phase, bodyPhase cel.Phase, r *v1alpha1.TransformationRules) {
	v.optional(path.Child("when"), phase, cel.KindCondition, r.When)
	for i, h := range r.Set {
		v.check(path.Child("set").Index(i).Child("value"), phase, cel.KindHeaderValue, h.Value)
	}
	for i, h := range r.Add {
		v.check(path.Child("add").Index(i).Child("value"), phase, cel.KindHeaderValue, h.Value)
	}
	v.optional(path.Child("body"), bodyPhase, cel.KindBody, r.Body)
}

func (v *validator) optional(path *field.Path, phase cel.Phase, kind cel.Kind, expr *v1alpha1.CELExpression) {
	if expr != nil {
		v.check(path, phase, kind, *expr)
	}
}

// check reports each issue of one expression on its own: errors as
// field.Invalid with the expression as the value, warnings as text.
func (v *validator) check(path *field.Path, phase cel.Phase, kind cel.Kind, expr v1alpha1.CELExpression) {
	_, issues := cel.Check(phase, kind, string(expr))
	for _, is := range issues {
		if is.Severity == cel.SeverityWarning {
			v.warnings = append(v.warnings, path.String()+": "+is.String())
			continue
		}
		v.errs = append(v.errs, field.Invalid(path, shorten(string(expr)), is.String()))
	}
}

// shorten keeps error output readable when the expression itself is the
// problem (too long).
func shorten(s string) string {
	const maxRunes = 256
	if r := []rune(s); len(r) > maxRunes {
		return string(r[:maxRunes]) + "..."
	}
	return s
}
