package webhook

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

func TestRejectionsCounted(t *testing.T) {
	v := Validator[*agwv1a1.AgentgatewayBackend]{Kind: "TestKind", Check: func(b *agwv1a1.AgentgatewayBackend) (field.ErrorList, []string) {
		if b.Name == "ok" {
			return nil, nil
		}
		return field.ErrorList{field.NotSupported(field.NewPath("spec", "x"), "y", []string{"z"}), field.Required(field.NewPath("spec"), "")}, nil
	}}
	series := rejections.WithLabelValues("TestKind", "not_supported")
	before := testutil.ToFloat64(series)
	if _, err := v.ValidateCreate(context.Background(), &agwv1a1.AgentgatewayBackend{ObjectMeta: metav1.ObjectMeta{Name: "bad"}}); err == nil {
		t.Fatal("bad object admitted")
	}
	if _, err := v.ValidateUpdate(context.Background(), nil, &agwv1a1.AgentgatewayBackend{ObjectMeta: metav1.ObjectMeta{Name: "ok"}}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(series) - before; got != 1 {
		t.Fatalf("agentgateway_webhook_rejections_total{kind=TestKind,reason=not_supported} grew by %v; want 1", got)
	}
	for typ, want := range map[field.ErrorType]string{field.ErrorTypeInvalid: "invalid", field.ErrorTypeTooMany: "too_many", field.ErrorTypeInternal: "internal_error"} {
		if got := rejectionReason(field.ErrorList{{Type: typ}}); got != want {
			t.Errorf("rejectionReason(%s) = %q; want %q", typ, got, want)
		}
	}
}
