package webhook

import (
	"context"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/collectors"
	"github.com/agentgateway/agentgateway-go/webhook/validation"
)

// Register adds the validating webhooks of every agentgateway.dev kind to the manager's
// webhook server, at the paths manifests/operator/webhook.yaml names.
func Register(mgr ctrl.Manager) error {
	if _, errs := collectors.Register(ctrlmetrics.Registry, prometheus.Collector(rejections), nil); len(errs) > 0 {
		return errs[0]
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &agwv1a1.AgentgatewayPolicy{}).
		WithValidator(Validator[*agwv1a1.AgentgatewayPolicy]{Kind: "AgentgatewayPolicy", Check: validation.ValidatePolicy}).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &agwv1a1.AgentgatewayBackend{}).
		WithValidator(Validator[*agwv1a1.AgentgatewayBackend]{Kind: "AgentgatewayBackend", Check: validation.ValidateBackend}).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &agwv1a1.AgentgatewayParameters{}).
		WithValidator(Validator[*agwv1a1.AgentgatewayParameters]{Kind: "AgentgatewayParameters", Check: validation.ValidateParameters}).Complete()
}

// rejections counts the objects the webhooks refused.
var rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "agentgateway_webhook_rejections_total",
	Help: "Objects the validating webhooks refused, by kind and reason: the type of the first field error (invalid, required, forbidden, not_supported, duplicate, too_long, too_many, type_invalid, not_found, internal_error).",
}, []string{"kind", "reason"})

// Collectors returns the webhooks' collectors (Register registers them).
func Collectors() []prometheus.Collector { return []prometheus.Collector{rejections} }

// rejectionReason is the metric label of the first error's type: "FieldValueNotSupported"
// becomes "not_supported".
func rejectionReason(errs field.ErrorList) string {
	t := strings.TrimPrefix(string(errs[0].Type), "FieldValue")
	var b strings.Builder
	for i, r := range t {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Validator admits objects of one kind that Check finds no error in. Every problem of an
// object is reported at once, as one Invalid error with a field path per problem, which
// kubectl prints one per line; Check's warnings become admission warnings.
type Validator[T client.Object] struct {
	// Kind names the object in the error ("The <Kind> "<name>" is invalid: ...").
	Kind string
	// Check is the same function the operator's translator runs.
	Check func(T) (field.ErrorList, []string)
}

var _ admission.Validator[*agwv1a1.AgentgatewayPolicy] = Validator[*agwv1a1.AgentgatewayPolicy]{}

// ValidateCreate implements admission.Validator.
func (v Validator[T]) ValidateCreate(_ context.Context, obj T) (admission.Warnings, error) {
	errs, warnings := v.Check(obj)
	if len(errs) == 0 {
		return warnings, nil
	}
	rejections.WithLabelValues(v.Kind, rejectionReason(errs)).Inc()
	return warnings, apierrors.NewInvalid(agwv1a1.SchemeGroupVersion.WithKind(v.Kind).GroupKind(), obj.GetName(), errs)
}

// ValidateUpdate implements admission.Validator. The whole new object is checked: an update
// may not keep an expression that a newer proxy/cel environment rejects.
func (v Validator[T]) ValidateUpdate(ctx context.Context, _, obj T) (admission.Warnings, error) {
	return v.ValidateCreate(ctx, obj)
}

// ValidateDelete implements admission.Validator; deletes are always allowed.
func (Validator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}
