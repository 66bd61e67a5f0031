package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

func TestValidateParametersAutoscalerNeedsCPU(t *testing.T) {
	hpa := &v1alpha1.AutoscalerSettings{MaxReplicas: 3}
	cases := []struct {
		name      string
		resources *corev1.ResourceRequirements
		wantErr   bool
	}{
		{name: "default resources"},
		{name: "cpu request", resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}},
		{name: "cpu limit", resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}},
		{name: "memory only", resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.AgentgatewayParameters{Spec: v1alpha1.AgentgatewayParametersSpec{HorizontalPodAutoscaler: hpa, Resources: tc.resources}}
			errs, warnings := ValidateParameters(p)
			if len(warnings) != 0 {
				t.Errorf("unexpected warnings %v", warnings)
			}
			switch {
			case tc.wantErr && (len(errs) != 1 || !strings.Contains(errs.ToAggregate().Error(), "spec.resources.requests.cpu: Required value")):
				t.Fatalf("errors %v, want spec.resources.requests.cpu required", errs)
			case !tc.wantErr && len(errs) != 0:
				t.Fatalf("valid parameters rejected: %v", errs.ToAggregate())
			}
		})
	}
	// Without an autoscaler, resources without CPU are fine.
	p := &v1alpha1.AgentgatewayParameters{Spec: v1alpha1.AgentgatewayParametersSpec{Resources: cases[3].resources}}
	if errs, warnings := ValidateParameters(p); len(errs) != 0 || len(warnings) != 0 {
		t.Fatalf("parameters without an autoscaler: errors %v, warnings %v", errs.ToAggregate(), warnings)
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

// TestValidateBackendAppProtocolTCP: appProtocol tcp is admitted with a warning that says
// HTTPRoutes and GRPCRoutes cannot use the backend.
func TestValidateBackendAppProtocolTCP(t *testing.T) {
	for app, want := range map[string]int{"tcp": 1, "http": 0, "kubernetes.io/h2c": 0, "https": 0} {
		b := &v1alpha1.AgentgatewayBackend{Spec: v1alpha1.AgentgatewayBackendSpec{Static: &v1alpha1.StaticBackend{Host: "api.example.com", Port: 80, AppProtocol: &app}}}
		errs, warnings := ValidateBackend(b)
		if len(errs) != 0 || len(warnings) != want {
			t.Errorf("appProtocol %s: errors %v, warnings %q; want %d warnings", app, errs, warnings, want)
		}
		if want == 1 && !strings.HasPrefix(warnings[0], "spec.static.appProtocol: tcp makes this a raw TCP backend") {
			t.Errorf("appProtocol tcp: warning %q", warnings[0])
		}
	}
}
