package apiserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/publish"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/explain"
)

const secretNS = "team-s"

// secretSnapshot is a Gateway with an HTTPS listener and a route whose policies reference
// Secrets of every kind the API knows (TLS key pair, API keys, htpasswd, backend token), each
// holding marker values. It returns the snapshot and every value that must never appear in a
// view.
func secretSnapshot(t *testing.T) (*translate.Snapshot, []string) {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("secure.example.com", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A line from the middle of the private key's PEM body: unique, and only present if
	// key material leaked.
	keyLines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	markers := []string{
		keyLines[len(keyLines)/2],
		"MARKER-TLS-EXTRA-PASSWORD-5e0c9",
		"MARKER-APIKEY-client-a-7f3a1",
		"MARKERHTPASSWDHASH0b8d2e4f6a8c0e2g4i6k8m0o2q4s6u8w0y2A4C6E8",
		"MARKER-BACKEND-TOKEN-91b2c",
	}
	secrets := []corev1.Secret{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "tls"},
			Type:       corev1.SecretTypeTLS,
			Data: map[string][]byte{
				corev1.TLSCertKey:       certPEM,
				corev1.TLSPrivateKeyKey: keyPEM,
				"password":              []byte(markers[1]),
			},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "apikeys"}, Data: map[string][]byte{"client-a": []byte(markers[2])}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "htpasswd"}, Data: map[string][]byte{".htpasswd": []byte("alice:$2y$05$" + markers[3] + "\n")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "backend-token"}, Data: map[string][]byte{"Authorization": []byte("Bearer " + markers[4])}},
	}

	const controller = "agentgateway.dev/agentgateway"
	port := gwv1.PortNumber(80)
	pfx := gwv1.PathMatchPathPrefix
	root := "/"
	s := &translate.Snapshot{
		ControllerName: controller,
		GatewayClasses: []gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "agw"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}},
		Gateways: []gwv1.Gateway{{
			ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "gw"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "agw", Listeners: []gwv1.Listener{{
				Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType,
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "tls"}}},
			}}},
		}},
		HTTPRoutes: []gwv1.HTTPRoute{{
			ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "web"},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
				Rules: []gwv1.HTTPRouteRule{{
					Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &pfx, Value: &root}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: &port}}}},
				}},
			},
		}},
		Namespaces: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: secretNS}}},
		Services: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}},
		EndpointSlices: []discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: secretNS, Name: "web-x", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.7"}}},
		}},
		Secrets: secrets,
		Policies: []agwv1a1.AgentgatewayPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "auth"},
			Spec: agwv1a1.AgentgatewayPolicySpec{
				TargetRefs: []agwv1a1.PolicyTargetReference{{Group: gwv1.GroupName, Kind: "HTTPRoute", Name: "web"}},
				Traffic: &agwv1a1.TrafficPolicy{
					APIKeyAuthentication: &agwv1a1.APIKeyAuthentication{SecretRefs: []agwv1a1.LocalObjectReference{{Name: "apikeys"}}},
					BasicAuthentication:  &agwv1a1.BasicAuthentication{SecretRef: agwv1a1.LocalObjectReference{Name: "htpasswd"}},
				},
				Backend: &agwv1a1.BackendPolicy{Auth: &agwv1a1.BackendAuth{SecretRef: agwv1a1.LocalObjectReference{Name: "backend-token"}}},
			},
		}},
	}
	return s, markers
}

func ptr[T any](v T) *T { return &v }

// testNoSecretMaterial translates objects holding marker secret values, serves the resulting
// views through the kube-apiserver, and searches every output format for the markers.
func testNoSecretMaterial(t *testing.T, a *aggregated) {
	snap, markers := secretSnapshot(t)
	res := translate.Translate(snap)
	var effs []*viewsv1a1.EffectiveConfig
	for _, g := range res.Gateways {
		if g.Effective != nil {
			effs = append(effs, g.Effective)
		}
	}
	if len(effs) != 1 {
		t.Fatalf("translation produced %d EffectiveConfigs, want 1 (the test is void without it)", len(effs))
	}
	// The view must show that the certificate was used, by name, or the check proves nothing.
	if l := effs[0].Listeners; len(l) != 1 || l[0].TLS == nil || len(l[0].TLS.Certificates) != 1 {
		t.Fatalf("listener TLS not in the view: %+v", l)
	}
	a.views.EffectiveConfigs.Replace("secrets-test", effs)
	a.views.PublishConfigs(publish.Configs(res))
	a.views.ProxyStatuses.Upsert("secrets-test", proxyStatus(secretNS, "gw-0", "gw", true, effs[0].Version, effs[0].Version, ""))

	var forbidden []string
	for _, m := range markers {
		forbidden = append(forbidden, m, base64.StdEncoding.EncodeToString([]byte(m)))
	}
	outputs := map[string]string{}
	raw := a.client.ViewsV1alpha1().RESTClient()
	for _, res := range []string{"effectiveconfigs", "proxystatuses"} {
		b, err := raw.Get().AbsPath("/apis", viewsv1a1.GroupName, "v1alpha1", "namespaces", secretNS, res).DoRaw(context.Background())
		if err != nil {
			t.Fatalf("get %s: %v", res, err)
		}
		outputs["json "+res] = string(b)
		b, err = raw.Get().AbsPath("/apis", viewsv1a1.GroupName, "v1alpha1", "namespaces", secretNS, res).
			Param("includeObject", "Object").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
		if err != nil {
			t.Fatalf("get %s as table: %v", res, err)
		}
		outputs["table "+res] = string(b)
	}
	// The explain subresource computes from the config that holds the secrets: whatever
	// the request carries (a wrong key, the right one, basic credentials), no secret comes
	// back, and no credential is checked.
	for i, h := range []string{"X-Other:1", "Authorization:Bearer wrong-key", "Authorization:Bearer " + markers[2], "Authorization:Basic YWxpY2U6cHc="} {
		b, err := raw.Get().AbsPath("/apis", viewsv1a1.GroupName, "v1alpha1", "namespaces", secretNS, "effectiveconfigs", "gw", "explain").
			Param("host", "secure.example.com").Param("path", "/").Param("header", h).DoRaw(context.Background())
		if err != nil {
			t.Fatalf("explain with %s: %v", h, err)
		}
		var ex explain.Explanation
		if err := json.Unmarshal(b, &ex); err != nil {
			t.Fatalf("explain answer %s: %v", b, err)
		}
		want := "unknown" // credentials present: not checked
		if i == 0 {
			want = "reject" // none at all: 401 whatever the keys are
		}
		if ex.Route == nil || len(ex.Policies) == 0 || ex.Policies[0].Verdict != want {
			t.Fatalf("explain with %s: route %+v policies %+v, want the API key policy %s", h, ex.Route, ex.Policies, want)
		}
		// The marker key is what the request sent; only its absence from the answer counts.
		outputs[fmt.Sprintf("explain %d", i)] = string(b)
	}
	// The raw API answers are checked on their own first, so that a machine without kubectl
	// (a skip outside CI) still runs them.
	if !strings.Contains(outputs["json effectiveconfigs"], secretNS+"/tls") {
		t.Fatalf("the view does not name the certificate Secret; output:\n%s", outputs["json effectiveconfigs"])
	}
	assertNoMarkers(t, outputs, forbidden)

	t.Run("kubectl", func(t *testing.T) {
		outputs := map[string]string{}
		for _, format := range []string{"yaml", "json", "wide"} {
			out, err := kubectl(t, a.env.Kubeconfig, "get", "agentgateway", "-n", secretNS, "-o", format)
			if err != nil {
				t.Fatalf("kubectl -o %s: %v\n%s", format, err, out)
			}
			outputs["kubectl -o "+format] = out
		}
		if !strings.Contains(outputs["kubectl -o yaml"], secretNS+"/tls") {
			t.Fatalf("the view does not name the certificate Secret; output:\n%s", outputs["kubectl -o yaml"])
		}
		assertNoMarkers(t, outputs, forbidden)
	})
}

// assertNoMarkers fails t for every output that contains one of the forbidden strings.
func assertNoMarkers(t *testing.T, outputs map[string]string, forbidden []string) {
	t.Helper()
	for name, out := range outputs {
		for _, m := range forbidden {
			if strings.Contains(out, m) {
				t.Errorf("%s contains secret material %q", name, m)
			}
		}
	}
}
