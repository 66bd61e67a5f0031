package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

func TestValidateParametersOverlays(t *testing.T) {
	cases := []struct {
		name       string
		deployment string
		service    string
		want       []string // substrings, one per expected error; empty: valid
	}{
		{name: "tolerations", deployment: `{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Exists"}]}}}}`},
		{name: "sidecar with merge key", deployment: `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}`},
		{name: "service annotations", service: `{"metadata":{"annotations":{"a":"b"}},"spec":{"sessionAffinity":"ClientIP"}}`},
		{name: "not an object", deployment: `[1,2]`, want: []string{"spec.overlays.deployment: Invalid value", "not a JSON object"}},
		{name: "wrong type", deployment: `{"spec":{"replicas":"three"}}`, want: []string{"spec.overlays.deployment: Invalid value", "Deployment"}},
		{name: "misspelled field", deployment: `{"spec":{"replica":3}}`, want: []string{"spec.overlays.deployment: Invalid value", `unknown field "replica"`}},
		{name: "owned name", service: `{"metadata":{"name":"other"}}`, want: []string{"spec.overlays.service.metadata.name: Forbidden"}},
		{name: "owned kind", deployment: `{"kind":"StatefulSet"}`, want: []string{"spec.overlays.deployment.kind: Forbidden"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.AgentgatewayParameters{}
			p.Spec.Overlays = &v1alpha1.Overlays{}
			if tc.deployment != "" {
				p.Spec.Overlays.Deployment = &runtime.RawExtension{Raw: []byte(tc.deployment)}
			}
			if tc.service != "" {
				p.Spec.Overlays.Service = &runtime.RawExtension{Raw: []byte(tc.service)}
			}
			errs, _ := ValidateParameters(p)
			if len(tc.want) == 0 {
				if len(errs) != 0 {
					t.Fatalf("valid overlay rejected: %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("invalid overlay accepted; want %q", tc.want)
			}
			got := errs.ToAggregate().Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("error %q lacks %q", got, w)
				}
			}
		})
	}
}

func TestValidateBackendAddresses(t *testing.T) {
	cases := []struct {
		host     string
		errs     int
		warnings int
	}{
		{"api.example.com", 0, 0},
		{"10.1.2.3", 0, 0},
		{"0.0.0.0", 1, 0},
		{"::", 1, 0},
		{"127.0.0.1", 0, 1},
		{"169.254.169.254", 0, 1},
	}
	for _, tc := range cases {
		b := &v1alpha1.AgentgatewayBackend{Spec: v1alpha1.AgentgatewayBackendSpec{Static: &v1alpha1.StaticBackend{Host: tc.host, Port: 80}}}
		errs, warnings := ValidateBackend(b)
		if len(errs) != tc.errs || len(warnings) != tc.warnings {
			t.Errorf("%s: got %d errors %v and %d warnings %v; want %d and %d", tc.host, len(errs), errs, len(warnings), warnings, tc.errs, tc.warnings)
		}
	}
}
