package crds

import "testing"

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
	checkSchemaCases(t, workloadCases, false)
}
