package validation

import (
	"slices"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

func ref(kind, name string) v1alpha1.PolicyTargetReference {
	group := gwv1.Group("gateway.networking.k8s.io")
	switch kind {
	case "Service":
		group = ""
	case "AgentgatewayBackend":
		group = "agentgateway.dev"
	}
	return v1alpha1.PolicyTargetReference{Group: group, Kind: gwv1.Kind(kind), Name: gwv1.ObjectName(name)}
}

// TestPolicyWarnings: sections a target ignores and fields the proxy does not enforce are
// admitted with a warning naming the field and, for sections, the targets that ignore them.
func TestPolicyWarnings(t *testing.T) {
	timeouts := &v1alpha1.TrafficPolicy{Timeouts: &v1alpha1.Timeouts{}}
	connect := &v1alpha1.BackendPolicy{TCP: &v1alpha1.BackendTCP{}}
	const (
		backendWhy = "backend settings take effect only on Service or AgentgatewayBackend targets"
		trafficWhy = "traffic settings take effect on Gateway, listener, route and rule targets, not on backends"
	)
	for _, tc := range []struct {
		name string
		spec v1alpha1.AgentgatewayPolicySpec
		want []string
	}{
		{
			name: "backend on a Gateway and on a Service",
			spec: v1alpha1.AgentgatewayPolicySpec{TargetRefs: []v1alpha1.PolicyTargetReference{ref("Gateway", "gw"), ref("Service", "echo")}, Backend: connect},
			want: []string{"spec.backend: ignored at spec.targetRefs[0] (Gateway gw): " + backendWhy},
		},
		{
			name: "backend on routes",
			spec: v1alpha1.AgentgatewayPolicySpec{TargetRefs: []v1alpha1.PolicyTargetReference{ref("HTTPRoute", "web"), ref("GRPCRoute", "rpc"), ref("ListenerSet", "ls")}, Backend: connect},
			want: []string{"spec.backend: ignored at spec.targetRefs[0] (HTTPRoute web), spec.targetRefs[1] (GRPCRoute rpc), spec.targetRefs[2] (ListenerSet ls): " + backendWhy},
		},
		{
			name: "traffic on backends",
			spec: v1alpha1.AgentgatewayPolicySpec{TargetRefs: []v1alpha1.PolicyTargetReference{ref("Service", "echo"), ref("AgentgatewayBackend", "ext")}, Traffic: timeouts},
			want: []string{"spec.traffic: ignored at spec.targetRefs[0] (Service echo), spec.targetRefs[1] (AgentgatewayBackend ext): " + trafficWhy},
		},
		{
			name: "both sections, each ignored by one target",
			spec: v1alpha1.AgentgatewayPolicySpec{TargetRefs: []v1alpha1.PolicyTargetReference{ref("HTTPRoute", "web"), ref("Service", "echo")}, Backend: connect, Traffic: timeouts},
			want: []string{
				"spec.backend: ignored at spec.targetRefs[0] (HTTPRoute web): " + backendWhy,
				"spec.traffic: ignored at spec.targetRefs[1] (Service echo): " + trafficWhy,
			},
		},
		{
			name: "selectors",
			spec: v1alpha1.AgentgatewayPolicySpec{TargetSelectors: []v1alpha1.PolicyTargetSelector{{Group: "", Kind: "Service", MatchLabels: map[string]string{"a": "b"}}}, Traffic: timeouts},
			want: []string{"spec.traffic: ignored at spec.targetSelectors[0] (every Service selected): " + trafficWhy},
		},
		{
			name: "inline policy with a backend section",
			spec: v1alpha1.AgentgatewayPolicySpec{Backend: connect, Traffic: timeouts},
			want: []string{"spec.backend: ignored: a policy without targetRefs or targetSelectors applies only inline, through an HTTPRoute ExtensionRef filter, and " + backendWhy},
		},
		{
			name: "every section where it applies",
			spec: v1alpha1.AgentgatewayPolicySpec{TargetRefs: []v1alpha1.PolicyTargetReference{ref("Gateway", "gw")}, Traffic: timeouts,
				Frontend: &v1alpha1.FrontendPolicy{TLS: &v1alpha1.FrontendTLS{ALPNProtocols: []string{"h2"}}}},
		},
		{
			name: "inline traffic only",
			spec: v1alpha1.AgentgatewayPolicySpec{Traffic: timeouts},
		},
		{
			name: "a field is warned about only while the proxy does not enforce it",
			spec: v1alpha1.AgentgatewayPolicySpec{
				TargetRefs: []v1alpha1.PolicyTargetReference{ref("Service", "echo")},
				Backend:    &v1alpha1.BackendPolicy{Auth: &v1alpha1.BackendAuth{}},
			},
			want: notEnforcedOnly("spec.backend.auth"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, warnings := ValidatePolicy(&v1alpha1.AgentgatewayPolicy{Spec: tc.spec})
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !slices.Equal(warnings, tc.want) {
				t.Errorf("warnings:\n got: %q\nwant: %q", warnings, tc.want)
			}
		})
	}
}

// notEnforcedOnly is the warning for path when the proxy does not enforce it, or none once
// it does.
func notEnforcedOnly(path string) []string {
	for _, f := range notEnforced {
		if f.path == path {
			return []string{path + ": not enforced by this proxy version: the policy is accepted and its status lists the field, but requests behave as if it were unset"}
		}
	}
	return nil
}
