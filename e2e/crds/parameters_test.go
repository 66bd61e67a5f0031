package crds

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// workloadCases are the AgentgatewayParameters fields that shape disruption budgets and
// autoscaling, and the CEL rules that guard them.
var workloadCases = []schemaCase{
	{name: "autoscaler", spec: `
horizontalPodAutoscaler: {minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70}
podDisruptionBudget: {maxUnavailable: 1}
`},
	{name: "autoscaler-max-only", spec: `
horizontalPodAutoscaler: {maxReplicas: 1}
`},
	{name: "budget-percentage", spec: `
replicas: 4
podDisruptionBudget: {minAvailable: "50%"}
`},
	{name: "budget-zero", spec: `
podDisruptionBudget: {maxUnavailable: 0}
`},
	{name: "autoscaler-min-above-max", spec: `
horizontalPodAutoscaler: {minReplicas: 5, maxReplicas: 3}
`, wantErr: []string{"spec.horizontalPodAutoscaler: Invalid value", "maxReplicas must be at least minReplicas"}},
	{name: "autoscaler-no-max", spec: `
horizontalPodAutoscaler: {minReplicas: 2}
`, wantErr: []string{"spec.horizontalPodAutoscaler.maxReplicas: Required value"}},
	{name: "autoscaler-zero-min", spec: `
horizontalPodAutoscaler: {minReplicas: 0, maxReplicas: 3}
`, wantErr: []string{"spec.horizontalPodAutoscaler.minReplicas: Invalid value: 0"}},
	{name: "autoscaler-zero-target", spec: `
horizontalPodAutoscaler: {maxReplicas: 3, targetCPUUtilizationPercentage: 0}
`, wantErr: []string{"spec.horizontalPodAutoscaler.targetCPUUtilizationPercentage: Invalid value: 0"}},
	{name: "replicas-and-autoscaler", spec: `
replicas: 2
horizontalPodAutoscaler: {maxReplicas: 3}
`, wantErr: []string{"spec: Invalid value", "replicas and horizontalPodAutoscaler are exclusive"}},
	{name: "budget-both", spec: `
podDisruptionBudget: {minAvailable: 1, maxUnavailable: 1}
`, wantErr: []string{"spec.podDisruptionBudget: Invalid value", "set exactly one of minAvailable and maxUnavailable"}},
	{name: "budget-empty", spec: `
podDisruptionBudget: {}
`, wantErr: []string{"spec.podDisruptionBudget: Invalid value", "set exactly one of minAvailable and maxUnavailable"}},
	{name: "budget-negative", spec: `
podDisruptionBudget: {maxUnavailable: -1}
`, wantErr: []string{"spec.podDisruptionBudget.maxUnavailable: Invalid value", "non-negative count or a percentage"}},
	{name: "budget-bad-percentage", spec: `
podDisruptionBudget: {minAvailable: "150%"}
`, wantErr: []string{"spec.podDisruptionBudget.minAvailable: Invalid value", "non-negative count or a percentage"}},
	{name: "budget-not-a-percentage", spec: `
podDisruptionBudget: {minAvailable: "half"}
`, wantErr: []string{"spec.podDisruptionBudget.minAvailable: Invalid value", "non-negative count or a percentage"}},
}

func TestParametersWorkloadSchema(t *testing.T) {
	env := startAPIServer(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range workloadCases {
		t.Run(tc.name, func(t *testing.T) {
			var spec map[string]any
			if err := yaml.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatalf("test spec: %v", err)
			}
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": agwv1a1.SchemeGroupVersion.String(),
				"kind":       "AgentgatewayParameters",
				"metadata":   map[string]any{"name": tc.name, "namespace": "default"},
				"spec":       spec,
			}}
			_, err := dyn.Resource(parameters).Namespace("default").Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("valid object rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid object accepted; want an error containing %q", tc.wantErr)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %T: %v", err, err)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %q:\n%v", want, err)
				}
			}
		})
	}
}
