package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/webhook/validation"
)

// Register adds the validating webhooks of every agentgateway.dev kind to the manager's
// webhook server, at the paths manifests/operator/webhook.yaml names.
func Register(mgr ctrl.Manager) error {
	if err := ctrl.NewWebhookManagedBy(mgr, &agwv1a1.AgentgatewayPolicy{}).WithValidator(PolicyValidator{}).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &agwv1a1.AgentgatewayBackend{}).WithValidator(BackendValidator{}).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &agwv1a1.AgentgatewayParameters{}).WithValidator(ParametersValidator{}).Complete()
}

// PolicyValidator admits AgentgatewayPolicies whose CEL compiles and type-checks.
type PolicyValidator struct{}

var _ admission.Validator[*agwv1a1.AgentgatewayPolicy] = PolicyValidator{}

// ValidateCreate implements admission.Validator.
func (PolicyValidator) ValidateCreate(_ context.Context, p *agwv1a1.AgentgatewayPolicy) (admission.Warnings, error) {
	errs, warnings := validation.ValidatePolicy(p)
	return warnings, invalid("AgentgatewayPolicy", p.Name, errs)
}

// ValidateUpdate implements admission.Validator. The whole new object is checked: an update
// may not keep an expression that a newer proxy/cel environment rejects.
func (v PolicyValidator) ValidateUpdate(ctx context.Context, _, p *agwv1a1.AgentgatewayPolicy) (admission.Warnings, error) {
	return v.ValidateCreate(ctx, p)
}

// ValidateDelete implements admission.Validator; deletes are always allowed.
func (PolicyValidator) ValidateDelete(context.Context, *agwv1a1.AgentgatewayPolicy) (admission.Warnings, error) {
	return nil, nil
}

// BackendValidator admits AgentgatewayBackends.
type BackendValidator struct{}

var _ admission.Validator[*agwv1a1.AgentgatewayBackend] = BackendValidator{}

// ValidateCreate implements admission.Validator.
func (BackendValidator) ValidateCreate(_ context.Context, b *agwv1a1.AgentgatewayBackend) (admission.Warnings, error) {
	errs, warnings := validation.ValidateBackend(b)
	return warnings, invalid("AgentgatewayBackend", b.Name, errs)
}

// ValidateUpdate implements admission.Validator.
func (v BackendValidator) ValidateUpdate(ctx context.Context, _, b *agwv1a1.AgentgatewayBackend) (admission.Warnings, error) {
	return v.ValidateCreate(ctx, b)
}

// ValidateDelete implements admission.Validator; deletes are always allowed.
func (BackendValidator) ValidateDelete(context.Context, *agwv1a1.AgentgatewayBackend) (admission.Warnings, error) {
	return nil, nil
}

// ParametersValidator admits AgentgatewayParameters whose overlays are valid strategic-merge
// patches of the object kind they patch.
type ParametersValidator struct{}

var _ admission.Validator[*agwv1a1.AgentgatewayParameters] = ParametersValidator{}

// ValidateCreate implements admission.Validator.
func (ParametersValidator) ValidateCreate(_ context.Context, p *agwv1a1.AgentgatewayParameters) (admission.Warnings, error) {
	errs, warnings := validation.ValidateParameters(p)
	return warnings, invalid("AgentgatewayParameters", p.Name, errs)
}

// ValidateUpdate implements admission.Validator.
func (v ParametersValidator) ValidateUpdate(ctx context.Context, _, p *agwv1a1.AgentgatewayParameters) (admission.Warnings, error) {
	return v.ValidateCreate(ctx, p)
}

// ValidateDelete implements admission.Validator; deletes are always allowed.
func (ParametersValidator) ValidateDelete(context.Context, *agwv1a1.AgentgatewayParameters) (admission.Warnings, error) {
	return nil, nil
}

// invalid turns a list of field errors into the one Invalid error kubectl prints with a line
// per field path, or nil.
func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(agwv1a1.SchemeGroupVersion.WithKind(kind).GroupKind(), name, errs)
}
