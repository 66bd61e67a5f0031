package validation

import (
	"slices"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

func expr(s string) *v1alpha1.CELExpression {
	e := v1alpha1.CELExpression(s)
	return &e
}

func policy(spec v1alpha1.AgentgatewayPolicySpec) *v1alpha1.AgentgatewayPolicy {
	return &v1alpha1.AgentgatewayPolicy{Spec: spec}
}

func traffic(t v1alpha1.TrafficPolicy) *v1alpha1.AgentgatewayPolicy {
	return policy(v1alpha1.AgentgatewayPolicySpec{Traffic: &t})
}

func TestValidatePolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   *v1alpha1.AgentgatewayPolicy
		errs     []string
		warnings []string
	}{
		{
			name:   "no CEL",
			policy: traffic(v1alpha1.TrafficPolicy{Timeouts: &v1alpha1.Timeouts{}}),
		},
		{
			// The proxy speaks the Envoy ext_authz v3 gRPC protocol: nothing to refuse.
			name: "gRPC ext auth, read by authorization rules",
			policy: traffic(v1alpha1.TrafficPolicy{
				ExtAuth: &v1alpha1.ExtAuth{BackendRef: gwv1.BackendObjectReference{Name: "authz"}, Protocol: v1alpha1.ExtAuthProtocolGRPC,
					GRPC: &v1alpha1.ExtAuthGRPC{ContextExtensions: map[string]string{"app": "web"}}},
				Authorization: &v1alpha1.Authorization{Action: v1alpha1.AuthorizationRequire, Rules: []v1alpha1.CELExpression{`extauthz.metadata.user == "alice"`}},
			}),
		},
		{
			name: "valid everywhere",
			policy: policy(v1alpha1.AgentgatewayPolicySpec{
				Frontend: &v1alpha1.FrontendPolicy{AccessLog: &v1alpha1.AccessLog{
					Filter:     expr(`response.code >= 500`),
					Attributes: []v1alpha1.AccessLogAttribute{{Name: "user", Expression: `jwt.sub`}},
				}},
				Traffic: &v1alpha1.TrafficPolicy{
					Transformation: &v1alpha1.Transformation{
						Request: &v1alpha1.TransformationRules{
							When: expr(`request.path.startsWith("/api")`),
							Set:  []v1alpha1.HeaderTransformation{{Name: "x-user", Value: `jwt.sub`}},
							Add:  []v1alpha1.HeaderTransformation{{Name: "x-id", Value: `uuid()`}},
						},
						Response: &v1alpha1.TransformationRules{
							Set:  []v1alpha1.HeaderTransformation{{Name: "x-code", Value: `string(response.code)`}},
							Body: expr(`toJson({"error": string(response.body)})`),
						},
					},
					Authorization: &v1alpha1.Authorization{Action: v1alpha1.AuthorizationAllow, Rules: []v1alpha1.CELExpression{`"admin" in jwt.claims.groups`}},
					RateLimit:     &v1alpha1.RateLimit{Local: []v1alpha1.LocalRateLimit{{Requests: 1, Unit: "Second", Key: expr(`request.headers["x-tenant"]`)}}},
				},
			}),
		},
		{
			name: "transformation request header typo and wrong type",
			policy: traffic(v1alpha1.TrafficPolicy{Transformation: &v1alpha1.Transformation{Request: &v1alpha1.TransformationRules{
				Set: []v1alpha1.HeaderTransformation{
					{Name: "x-a", Value: `request.hedaers["x"]`},
					{Name: "x-b", Value: `request.headers.size()`},
				},
			}}}),
			errs: []string{
				`spec.traffic.transformation.request.set[0].value: Invalid value: "request.hedaers[\"x\"]": 1:8: undefined field 'hedaers' of request (did you mean 'request.headers'?)`,
				`spec.traffic.transformation.request.set[1].value: Invalid value: "request.headers.size()": expression must return string for a header value, got int; convert it with string(...)`,
			},
		},
		{
			name: "request body is readable in every request rule once the body is transformed",
			policy: traffic(v1alpha1.TrafficPolicy{Transformation: &v1alpha1.Transformation{Request: &v1alpha1.TransformationRules{
				When: expr(`request.body.size() > 0`),
				Add:  []v1alpha1.HeaderTransformation{{Name: "x-model", Value: `string(jsonParse(request.body).model)`}},
				Body: expr(`request.body`),
			}}}),
		},
		{
			name: "request body without a body rule",
			policy: traffic(v1alpha1.TrafficPolicy{Transformation: &v1alpha1.Transformation{Request: &v1alpha1.TransformationRules{
				When: expr(`request.body.size() > 0`),
			}}}),
			errs: []string{
				`spec.traffic.transformation.request.when: Invalid value: "request.body.size() > 0": 1:8: request.body is not available in phase RequestHeaders (only in RequestBody)`,
			},
		},
		{
			name: "response phase and body kind",
			policy: traffic(v1alpha1.TrafficPolicy{Transformation: &v1alpha1.Transformation{Response: &v1alpha1.TransformationRules{
				When: expr(`response.code`),
				Add:  []v1alpha1.HeaderTransformation{{Name: "x", Value: `response.headers["a"]`}},
				Body: expr(`response.code + 1`),
			}}}),
			errs: []string{
				`spec.traffic.transformation.response.when: Invalid value: "response.code": expression must return bool for a condition, got int`,
				`spec.traffic.transformation.response.body: Invalid value: "response.code + 1": expression must return string or bytes for a body, got int`,
			},
		},
		{
			name: "authorization rules: several errors in one policy, each with its own path",
			policy: traffic(v1alpha1.TrafficPolicy{Authorization: &v1alpha1.Authorization{Action: v1alpha1.AuthorizationDeny, Rules: []v1alpha1.CELExpression{
				`request.method == "GET"`,
				`requst.method == "GET" && response.code == 200`,
				`request.path.matches("[")`,
				`backend.name == "x"`,
			}}}),
			errs: []string{
				`spec.traffic.authorization.rules[1]: Invalid value: "requst.method == \"GET\" && response.code == 200": 1:1: undeclared reference to 'requst' (did you mean 'request'?)`,
				`spec.traffic.authorization.rules[1]: Invalid value: "requst.method == \"GET\" && response.code == 200": 1:27: 'response' is not available in phase Authorization (only in Response or AccessLog)`,
				`spec.traffic.authorization.rules[2]: Invalid value: "request.path.matches(\"[\")": 1:22: invalid regular expression "[": missing closing ]`,
				`spec.traffic.authorization.rules[3]: Invalid value: "backend.name == \"x\"": 1:1: 'backend' is not available in phase Authorization (only in RequestHeaders, RequestBody, Response or AccessLog)`,
			},
		},
		{
			name: "mcp authorization rules",
			policy: traffic(v1alpha1.TrafficPolicy{MCPAuthorization: &v1alpha1.Authorization{Action: v1alpha1.AuthorizationAllow, Rules: []v1alpha1.CELExpression{
				`mcp.tool.name == "x" && jwt.sub == "a"`,
				`mcp.tool.nmae == "x"`,
			}}}),
			errs: []string{
				`spec.traffic.mcpAuthorization.rules[1]: Invalid value: "mcp.tool.nmae == \"x\"": 1:9: undefined field 'nmae' of mcp.tool (did you mean 'mcp.tool.name'?)`,
			},
		},
		{
			name: "rate limit keys",
			policy: traffic(v1alpha1.TrafficPolicy{RateLimit: &v1alpha1.RateLimit{Local: []v1alpha1.LocalRateLimit{
				{Requests: 1, Unit: "Second"},
				{Requests: 1, Unit: "Second", Key: expr(`source.port`)},
				{Requests: 1, Unit: "Second", Key: expr(`uuid()`)},
			}}}),
			errs: []string{
				`spec.traffic.rateLimit.local[1].key: Invalid value: "source.port": expression must return string for a rate-limit key, got int; convert it with string(...)`,
			},
			warnings: []string{
				`spec.traffic.rateLimit.local[2].key: 1:5: uuid() returns a new value on every call, so this rate-limit key never repeats`,
			},
		},
		{
			name: "access log",
			policy: policy(v1alpha1.AgentgatewayPolicySpec{Frontend: &v1alpha1.FrontendPolicy{AccessLog: &v1alpha1.AccessLog{
				Filter: expr(`response.body.size() > 0`),
				Attributes: []v1alpha1.AccessLogAttribute{
					{Name: "ok", Expression: `request.path`},
					{Name: "bad", Expression: `request.path +`},
					{Name: "claim", Expression: `jwt.claims.sub`},
				},
			}}}),
			errs: []string{
				`spec.frontend.accessLog.filter: Invalid value: "response.body.size() > 0": 1:9: response.body is not available in phase AccessLog (only in Response)`,
				`spec.frontend.accessLog.attributes[1].expression: Invalid value: "request.path +": 1:15: syntax error: unexpected end of expression`,
			},
		},
		{
			name: "tracing",
			policy: policy(v1alpha1.AgentgatewayPolicySpec{Frontend: &v1alpha1.FrontendPolicy{Tracing: &v1alpha1.Tracing{
				Condition: expr(`response.code == 200`),
				Attributes: []v1alpha1.TracingAttribute{
					{Name: "ok", Expression: expr(`request.path`)},
					{Name: "bad", Expression: expr(`jwt.claims.sub`)},
				},
			}}}),
			errs: []string{
				`spec.frontend.tracing.condition: Invalid value: "response.code == 200": 1:1: 'response' is not available in phase Tracing (only in Response or AccessLog)`,
				`spec.frontend.tracing.attributes[1].expression: Invalid value: "jwt.claims.sub": 1:1: 'jwt' is not available in phase Tracing (only in Authorization, RateLimitDescriptor, RequestHeaders, RequestBody, Response, AccessLog or MCPAuthorization)`,
			},
		},
		{
			name: "dyn header value is a warning",
			policy: traffic(v1alpha1.TrafficPolicy{Transformation: &v1alpha1.Transformation{Request: &v1alpha1.TransformationRules{
				Set: []v1alpha1.HeaderTransformation{{Name: gwv1.HeaderName("x-sub"), Value: `jwt.claims.sub`}},
			}}}),
			warnings: []string{
				`spec.traffic.transformation.request.set[0].value: expression type is dyn; it must evaluate to string at run time for a header value`,
			},
		},
		{
			name: "cost and length",
			policy: traffic(v1alpha1.TrafficPolicy{Authorization: &v1alpha1.Authorization{Action: v1alpha1.AuthorizationAllow, Rules: []v1alpha1.CELExpression{
				`request.headers.all(a, request.headers.all(b, request.headers.all(c, a != b)))`,
				v1alpha1.CELExpression(strings.Repeat("true && ", 600) + "true"),
			}}}),
			errs: []string{
				`spec.traffic.authorization.rules[0]: Invalid value: "request.headers.all(a, request.headers.all(b, request.headers.all(c, a != b)))": expression too expensive (estimated cost 65110787 exceeds limit 1000000); avoid nested loops (all, exists, map, filter) over headers, query or claims`,
				`spec.traffic.authorization.rules[1]: Invalid value: "` + strings.Repeat("true && ", 32) + `...": expression too long (4804 characters, limit 4096)`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, warnings := ValidatePolicy(tc.policy)
			// Warnings about fields that are not enforced are TestPolicyWarnings' subject.
			skip := notEnforcedWarnings(tc.policy)
			warnings = slices.DeleteFunc(warnings, func(w string) bool { return slices.Contains(skip, w) })
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tc.errs)
			}
			if !slices.Equal(warnings, tc.warnings) {
				t.Errorf("warnings:\n got: %q\nwant: %q", warnings, tc.warnings)
			}
		})
	}
}
