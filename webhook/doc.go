// Package webhook serves the validating admission webhooks for the agentgateway.dev kinds.
//
// Each handler is a controller-runtime typed admission.Validator that runs the same checks as
// the operator's translator (package webhook/validation, which uses proxy/cel for every CEL
// field), and reports every problem of an object at once as one Invalid error with a field
// path per problem, so `kubectl apply` prints, for example:
//
//	The AgentgatewayPolicy "p" is invalid: spec.traffic.authorization.rules[0]: Invalid value: "request.hedaers": ...
//
// Soft findings are admission warnings, which kubectl prints as "Warning: ..." lines: among
// them, AgentgatewayPolicy sections that a target ignores (a backend section on a Gateway or
// route, traffic on a Service or AgentgatewayBackend, a backend section in a policy used only
// inline) and fields this proxy version does not enforce; the operator reports the same in
// the policy's status. Gateway API kinds get no webhook: the spec reports their problems
// through status.
//
// Serving certificates are generated and rotated in-cluster by cert-controller (certs.go),
// which also keeps the caBundle of the ValidatingWebhookConfiguration and of the views
// APIService current; the operator reports ready only once they are in place.
package webhook
