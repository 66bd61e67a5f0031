package translate

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// bigSnapshot is one Gateway with n HTTPRoutes (host N.example.com, path /N), each to its
// own Service with one EndpointSlice: the shape of the route-lifecycle benchmark.
func bigSnapshot(n int) *Snapshot {
	s := &Snapshot{ControllerName: "agentgateway.dev/agentgateway"}
	s.GatewayClasses = []gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "agw"}, Spec: gwv1.GatewayClassSpec{ControllerName: "agentgateway.dev/agentgateway"}}}
	s.Gateways = []gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"}, Spec: gwv1.GatewaySpec{
		GatewayClassName: "agw", Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}}
	port := gwv1.PortNumber(80)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("r%d", i)
		s.HTTPRoutes = append(s.HTTPRoutes, gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
				Hostnames:       []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("%d.example.com", i))},
				Rules: []gwv1.HTTPRouteRule{{
					Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr("/" + name)}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: &port}}}},
				}},
			},
		})
		s.Services = append(s.Services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
		s.EndpointSlices = append(s.EndpointSlices, discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}},
		})
	}
	return s
}

func BenchmarkTranslate1000Routes(b *testing.B) {
	s := bigSnapshot(1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Translate(s)
	}
}

func TestTranslateScales(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	res := Translate(bigSnapshot(2000))
	if n := len(res.Gateways[0].Config.Binds[0].Listeners[0].HTTPRoutes); n != 2000 {
		t.Fatalf("got %d routes, want 2000", n)
	}
}
