package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/provider"
)

// previousGatewayAPI is the Gateway API release before the one the operator is built against,
// whose CRDs (experimental channel) the operator still works with.
const previousGatewayAPI = "sigs.k8s.io/gateway-api@v1.6.3"

// TestOperatorOnPreviousGatewayAPICRDs runs the operator on a cluster that still has the
// v1.6.3 experimental CRDs (fetched through the Go module proxy, as the go command resolves
// modules): the GatewayClass is accepted with its features, a Gateway and an HTTPRoute are
// translated (listener status with the attached route, the route Accepted with resolved
// refs) and the Gateway waits for its proxies (Programmed=False, Pending).
func TestOperatorOnPreviousGatewayAPICRDs(t *testing.T) {
	out, err := exec.Command("go", "mod", "download", "-json", previousGatewayAPI).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", previousGatewayAPI, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %s %v", previousGatewayAPI, mod.Error, err)
	}
	env := envtest.Start(t, filepath.Join(envtest.RepoRoot(), "manifests", "crds"), filepath.Join(mod.Dir, "config", "crd", "experimental"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startOperator(t, ctx, cancel, env)
	c := newClient(t, env)
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	must(t, c.Get(ctx, types.NamespacedName{Name: "httproutes.gateway.networking.k8s.io"}, crd))
	if v := crd.GetAnnotations()["gateway.networking.k8s.io/bundle-version"]; v != "v1.6.3" {
		t.Fatalf("HTTPRoute CRD of bundle %q, want v1.6.3", v)
	}
	const ns = "apps"
	createWebGateway(t, ctx, c, ns)
	must(t, c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}))
	must(t, c.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "echo-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "echo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](3000), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}))
	must(t, c.Create(ctx, &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Hostnames:       []gwv1.Hostname{"echo.example.com"},
			Rules: []gwv1.HTTPRouteRule{{
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "echo", Port: ptr.To[gwv1.PortNumber](80)}}}},
			}},
		},
	}))

	waitFor(t, "GatewayClass Accepted=True with supported features", func() (bool, string) {
		var gc gwv1.GatewayClass
		if err := c.Get(ctx, types.NamespacedName{Name: "agentgateway"}, &gc); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(gc.Status.Conditions, "Accepted") && len(gc.Status.SupportedFeatures) > 0,
			fmt.Sprintf("%s, %d features", condString(gc.Status.Conditions), len(gc.Status.SupportedFeatures))
	})
	waitFor(t, "HTTPRoute Accepted and ResolvedRefs by our controller", func() (bool, string) {
		var r gwv1.HTTPRoute
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "echo"}, &r))
		for _, p := range r.Status.Parents {
			if p.ControllerName == provider.ControllerName {
				return meta.IsStatusConditionTrue(p.Conditions, "Accepted") && meta.IsStatusConditionTrue(p.Conditions, "ResolvedRefs"),
					condString(p.Conditions)
			}
		}
		return false, "no parent status of ours"
	})
	waitFor(t, "Gateway listener with the route attached, Programmed=False Pending", func() (bool, string) {
		gw := getGateway(t, ctx, c, ns)
		p := meta.FindStatusCondition(gw.Status.Conditions, "Programmed")
		ok := meta.IsStatusConditionTrue(gw.Status.Conditions, "Accepted") && p != nil && p.Reason == "Pending" &&
			len(gw.Status.Listeners) == 1 && gw.Status.Listeners[0].AttachedRoutes == 1
		return ok, fmt.Sprintf("%s, listeners %+v", condString(gw.Status.Conditions), gw.Status.Listeners)
	})
}
