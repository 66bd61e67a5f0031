package provider

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

func TestResolveParams(t *testing.T) {
	classP := &agwv1a1.AgentgatewayParameters{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "system"}, Spec: agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](2)}}
	gwP := &agwv1a1.AgentgatewayParameters{ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: "apps"}, Spec: agwv1a1.AgentgatewayParametersSpec{Replicas: ptr.To[int32](5)}}
	params := map[types.NamespacedName]*agwv1a1.AgentgatewayParameters{
		{Namespace: "system", Name: "defaults"}: classP,
		{Namespace: "apps", Name: "big"}:        gwP,
	}
	class := &gwv1.GatewayClass{Spec: gwv1.GatewayClassSpec{ParametersRef: &gwv1.ParametersReference{
		Group: agwv1a1.GroupName, Kind: "AgentgatewayParameters", Name: "defaults", Namespace: ptr.To[gwv1.Namespace]("system"),
	}}}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Spec: gwv1.GatewaySpec{
		Infrastructure: &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{Group: agwv1a1.GroupName, Kind: "AgentgatewayParameters", Name: "big"}},
	}}
	c, g := resolveParams(gw, class, params)
	if c != &classP.Spec || g != &gwP.Spec {
		t.Fatalf("resolveParams = %v, %v", c, g)
	}
	// A reference to another kind, or to a missing object, resolves to nothing.
	gw.Spec.Infrastructure.ParametersRef.Kind = "ConfigMap"
	class.Spec.ParametersRef.Name = "missing"
	if c, g := resolveParams(gw, class, params); c != nil || g != nil {
		t.Fatalf("resolveParams of bad refs = %v, %v", c, g)
	}
}
