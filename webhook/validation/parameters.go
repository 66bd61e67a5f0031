package validation

import (
	"bytes"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// ValidateParameters checks that each overlay is a strategic-merge patch that applies to the
// kind it patches, and that it leaves alone the fields the operator owns (kind, apiVersion,
// name, namespace), so the deployer never fails on it later; and that an autoscaler comes
// with a CPU request when the resources are set. The CRD schema checks the rest.
func ValidateParameters(p *v1alpha1.AgentgatewayParameters) (field.ErrorList, []string) {
	var errs field.ErrorList
	if o := p.Spec.Overlays; o != nil {
		path := field.NewPath("spec", "overlays")
		errs = append(errs, validateOverlay(path.Child("deployment"), o.Deployment, "Deployment", &appsv1.Deployment{})...)
		errs = append(errs, validateOverlay(path.Child("service"), o.Service, "Service", &corev1.Service{})...)
		errs = append(errs, validateOverlay(path.Child("serviceAccount"), o.ServiceAccount, "ServiceAccount", &corev1.ServiceAccount{})...)
	}
	// The autoscaler measures CPU against the request; the default resources have one, but
	// resources set here replace the defaults. (The class's and the Gateway's parameters can
	// still combine into an autoscaler without a CPU request; the deployer reports that.)
	if r := p.Spec.Resources; p.Spec.HorizontalPodAutoscaler != nil && r != nil {
		_, req := r.Requests[corev1.ResourceCPU]
		_, lim := r.Limits[corev1.ResourceCPU]
		if !req && !lim {
			errs = append(errs, field.Required(field.NewPath("spec", "resources", "requests", "cpu"),
				"horizontalPodAutoscaler scales on CPU utilization, which needs a CPU request (or limit) on the proxy"))
		}
	}
	return errs, nil
}

func validateOverlay(path *field.Path, raw *runtime.RawExtension, kindName string, kind runtime.Object) field.ErrorList {
	if raw == nil || len(raw.Raw) == 0 {
		return nil
	}
	var patch map[string]interface{}
	if err := json.Unmarshal(raw.Raw, &patch); err != nil {
		return field.ErrorList{field.Invalid(path, string(raw.Raw), fmt.Sprintf("not a JSON object: %v", err))}
	}
	var errs field.ErrorList
	for _, owned := range []string{"kind", "apiVersion"} {
		if _, ok := patch[owned]; ok {
			errs = append(errs, field.Forbidden(path.Child(owned), "set by the operator; remove it from the overlay"))
		}
	}
	if meta, ok := patch["metadata"].(map[string]interface{}); ok {
		for _, owned := range []string{"name", "namespace", "ownerReferences"} {
			if _, ok := meta[owned]; ok {
				errs = append(errs, field.Forbidden(path.Child("metadata", owned), "set by the operator; remove it from the overlay"))
			}
		}
	}
	// Apply the patch to an empty object of the right kind: this catches fields of the wrong
	// type and list merge directives that do not fit the schema.
	base, err := json.Marshal(kind)
	if err != nil {
		return append(errs, field.InternalError(path, fmt.Errorf("encoding an empty %s: %w", kindName, err)))
	}
	patched, err := strategicpatch.StrategicMergePatch(base, raw.Raw, kind)
	if err != nil {
		errs = append(errs, field.Invalid(path, string(raw.Raw), fmt.Sprintf("not a valid strategic-merge patch of a %s: %v", kindName, err)))
		return errs
	}
	// Strict decode into the typed object so misspelled fields are reported instead of dropped.
	dec := json.NewDecoder(bytes.NewReader(patched))
	dec.DisallowUnknownFields()
	if err := dec.Decode(kind); err != nil {
		errs = append(errs, field.Invalid(path, string(raw.Raw), fmt.Sprintf("does not fit a %s: %v", kindName, err)))
	}
	return errs
}
