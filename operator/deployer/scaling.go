package deployer

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

const (
	// defaultTargetCPU is the autoscaler's target when the parameters name none: high enough
	// to use the requested CPU, low enough to scale up before the proxies saturate.
	defaultTargetCPU = 80
	zoneKey          = "topology.kubernetes.io/zone"
	hostnameKey      = "kubernetes.io/hostname"
)

// PDBSettings returns the budget the proxies of p get, or nil for none: the parameters' own
// when set, otherwise maxUnavailable 1 when the Deployment can run more than one replica. A
// single replica gets no default budget: maxUnavailable 1 would not protect it, and
// minAvailable 1 would block every node drain.
func PDBSettings(p agwv1a1.AgentgatewayParametersSpec) *agwv1a1.PodDisruptionBudgetSettings {
	if p.PodDisruptionBudget != nil {
		return p.PodDisruptionBudget
	}
	most := ptr.Deref(p.Replicas, 1)
	if h := p.HorizontalPodAutoscaler; h != nil {
		most = h.MaxReplicas
	}
	if most <= 1 {
		return nil
	}
	return &agwv1a1.PodDisruptionBudgetSettings{MaxUnavailable: ptr.To(intstr.FromInt32(1))}
}

func renderPDB(p agwv1a1.AgentgatewayParametersSpec, meta metav1.ObjectMeta, selector map[string]string) *policyv1.PodDisruptionBudget {
	s := PDBSettings(p)
	if s == nil {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: meta,
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable:   s.MinAvailable,
			MaxUnavailable: s.MaxUnavailable,
			Selector:       &metav1.LabelSelector{MatchLabels: selector},
			// A proxy that is not ready serves nothing: evicting it must not count against
			// the budget, or a broken rollout would block node drains.
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}

func renderHPA(h *agwv1a1.AutoscalerSettings, meta metav1.ObjectMeta) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: meta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: meta.Name},
			MinReplicas:    ptr.To(ptr.Deref(h.MinReplicas, 1)),
			MaxReplicas:    h.MaxReplicas,
			// The proxy container's CPU only: a sidecar added by an overlay neither skews the
			// figure nor, lacking a CPU request, stops the autoscaler from computing it.
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ContainerResourceMetricSourceType,
				ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name:      corev1.ResourceCPU,
					Container: proxyContainer,
					Target: autoscalingv2.MetricTarget{
						Type:               autoscalingv2.UtilizationMetricType,
						AverageUtilization: ptr.To(ptr.Deref(h.TargetCPUUtilizationPercentage, defaultTargetCPU)),
					},
				},
			}},
		},
	}
}

// hasCPURequest says whether the proxy container of dep requests CPU (a limit alone counts:
// Kubernetes defaults the request to it), which CPU utilization is measured against.
func hasCPURequest(dep *appsv1.Deployment) bool {
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name != proxyContainer {
			continue
		}
		_, req := c.Resources.Requests[corev1.ResourceCPU]
		_, lim := c.Resources.Limits[corev1.ResourceCPU]
		return req || lim
	}
	return false
}

// spread asks the scheduler to put the proxies of one Gateway in different zones and on
// different nodes, without refusing to schedule when it cannot (a single-node cluster).
// matchLabelKeys limits the count to one ReplicaSet, so the old pods of a rollout do not skew
// where the new ones go.
func spread(selector map[string]string) []corev1.TopologySpreadConstraint {
	var out []corev1.TopologySpreadConstraint
	for _, key := range []string{zoneKey, hostnameKey} {
		out = append(out, corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: selector},
			MatchLabelKeys:    []string{"pod-template-hash"},
		})
	}
	return out
}
