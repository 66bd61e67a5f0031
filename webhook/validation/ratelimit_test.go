package validation

import (
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// The values of global rate-limit descriptor entries are checked like local keys.
func TestValidatePolicyGlobalRateLimit(t *testing.T) {
	p := &v1alpha1.AgentgatewayPolicy{Spec: v1alpha1.AgentgatewayPolicySpec{Traffic: &v1alpha1.TrafficPolicy{RateLimit: &v1alpha1.RateLimit{
		Global: &v1alpha1.GlobalRateLimit{BackendRef: gwv1.BackendObjectReference{Name: "rls"}, Domain: "d", Descriptors: []v1alpha1.GlobalRateLimitDescriptor{
			{Entries: []v1alpha1.GlobalRateLimitDescriptorEntry{{Key: "tenant", Value: `request.headers["x-tenant"]`}, {Key: "port", Value: `source.port`}}},
			{Entries: []v1alpha1.GlobalRateLimitDescriptorEntry{{Key: "id", Value: `uuid()`}, {Key: "late", Value: `response.headers["x"]`}}},
		}},
	}}}}
	errs, warnings := ValidatePolicy(p)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`spec.traffic.rateLimit.global.descriptors[0].entries[1].value: Invalid value: "source.port": expression must return string for a rate-limit key, got int; convert it with string(...)`,
		`spec.traffic.rateLimit.global.descriptors[1].entries[1].value: Invalid value: "response.headers[\"x\"]": 1:1: 'response' is not available in phase RateLimitDescriptor (only in Response or AccessLog)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	const warn = `spec.traffic.rateLimit.global.descriptors[1].entries[0].value: 1:5: uuid() returns a new value on every call, so this rate-limit key never repeats`
	found := false
	for _, w := range warnings {
		found = found || w == warn
	}
	if !found {
		t.Errorf("warnings %q lack %q", warnings, warn)
	}
}
