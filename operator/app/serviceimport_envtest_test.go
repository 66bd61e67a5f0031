package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestOperatorServiceImport runs the operator against a real kube-apiserver with the
// Multi-Cluster Services CRDs (from the sigs.k8s.io/mcs-api module) and a real proxy runtime
// fed over configstream: an HTTPRoute whose backendRef is a multicluster.x-k8s.io
// ServiceImport (GEP-1748) reaches a loopback backend that exists only as an endpoint of an
// EndpointSlice labelled multicluster.kubernetes.io/service-name for that ServiceImport (no
// Service exists in the namespace). A backendRef to a missing ServiceImport is
// ResolvedRefs=False/BackendNotFound.
//
// The apiserver refuses loopback addresses in EndpointSlices, so the slice names the
// documentation address sliceIP with the backend's real port, and the test's proxy, which
// already moves listeners to loopback ports, dials sliceIP's endpoints on 127.0.0.1 (same
// port): the address and port the operator sent are checked before that.
func TestOperatorServiceImport(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.Start(t, root+"/manifests/crds", root+"/manifests/gateway-api", mcsCRD(t, root))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xdsAddr := startOperator(t, ctx, cancel, env)
	c := newClient(t, env)
	const ns = "mcs"

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "imported")
	}))
	t.Cleanup(backend.Close)
	backendPort, err := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])
	must(t, err)

	createWebGateway(t, ctx, c, ns)
	must(t, c.Create(ctx, &mcsv1a1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: mcsv1a1.ServiceImportSpec{
			Type:  mcsv1a1.ClusterSetIP,
			Ports: []mcsv1a1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}))
	importRef := func(name string) gwv1.HTTPBackendRef {
		return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
			Group: ptr.To(gwv1.Group(mcsv1a1.GroupName)), Kind: ptr.To(gwv1.Kind("ServiceImport")),
			Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(80)),
		}}}
	}
	for _, r := range []struct{ name, target string }{{"imported", "echo"}, {"missing", "absent"}} {
		must(t, c.Create(ctx, &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: ns},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
				Rules: []gwv1.HTTPRouteRule{{
					Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr.To("/" + r.name)}}},
					BackendRefs: []gwv1.HTTPBackendRef{importRef(r.target)},
				}},
			},
		}))
	}
	routeResolved := func(name string) (*metav1.Condition, string) {
		var r gwv1.HTTPRoute
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &r))
		for _, p := range r.Status.Parents {
			if cond := meta.FindStatusCondition(p.Conditions, "ResolvedRefs"); cond != nil {
				return cond, condString(p.Conditions)
			}
		}
		return nil, "no parent status"
	}
	waitFor(t, "route missing ResolvedRefs=False BackendNotFound", func() (bool, string) {
		cond, all := routeResolved("missing")
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == string(gwv1.RouteReasonBackendNotFound) &&
			strings.Contains(cond.Message, "ServiceImport mcs/absent not found"), all
	})
	waitFor(t, "route imported ResolvedRefs=True", func() (bool, string) {
		cond, all := routeResolved("imported")
		return cond != nil && cond.Status == metav1.ConditionTrue, all
	})

	px := startTestProxy(t, ctx, c, xdsAddr, ns, "web-mcs", mapSliceIP)
	waitFor(t, "listener 8080 served", func() (bool, string) {
		px.mu.Lock()
		defer px.mu.Unlock()
		return px.ports[8080] != 0, fmt.Sprintf("served: %v", px.ports)
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", px.port(t, 8080))
	// No endpoints yet: the ServiceImport resolves but has nowhere to send the request.
	if code, body := httpGet(t, url+"/imported"); code == 200 {
		t.Fatalf("before any EndpointSlice: %d %q; want an error status", code, body)
	}

	// The backend's only address is this slice's endpoint, labelled for the ServiceImport;
	// its port is the slice port named like the ServiceImport port.
	must(t, c.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-cluster-a", Namespace: ns, Labels: map[string]string{
			mcsv1a1.LabelServiceName: "echo", mcsv1a1.LabelSourceCluster: "cluster-a",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(backendPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{sliceIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}))
	want := net.JoinHostPort(sliceIP, strconv.Itoa(backendPort))
	waitFor(t, "operator sends the slice's endpoint "+want, func() (bool, string) {
		px.mu.Lock()
		defer px.mu.Unlock()
		if px.applied == nil {
			return false, "no config applied"
		}
		for _, b := range px.applied.Backends {
			if b.Name == "serviceimport/mcs/echo:80" {
				return len(b.Endpoints) == 1 && b.Endpoints[0].Address == want, fmt.Sprintf("%+v", b.Endpoints)
			}
		}
		return false, "config " + px.applied.Version + " has no backend serviceimport/mcs/echo:80"
	})
	waitFor(t, "GET /imported answered by the ServiceImport's endpoint", func() (bool, string) {
		code, body, err := tryGet(url + "/imported")
		return err == nil && code == 200 && body == "imported", fmt.Sprintf("%d %q %v", code, body, err)
	})
	// The only other Service in the namespace is the deployer's proxy Service; no slice but
	// the ServiceImport's holds the backend's address.
	var svcs corev1.ServiceList
	must(t, c.List(ctx, &svcs, client.InNamespace(ns)))
	for _, s := range svcs.Items {
		if s.Name != "web-agentgateway" {
			t.Errorf("Service %s/%s exists; the backend must be reachable only through the ServiceImport", ns, s.Name)
		}
	}
	var slices discoveryv1.EndpointSliceList
	must(t, c.List(ctx, &slices, client.InNamespace(ns)))
	if len(slices.Items) != 1 {
		t.Errorf("%d EndpointSlices in %s; want only the ServiceImport's", len(slices.Items), ns)
	}
	if code, _ := httpGet(t, url+"/missing"); code != http.StatusInternalServerError {
		t.Errorf("route to a missing ServiceImport: %d; want 500", code)
	}
}

// sliceIP is the EndpointSlice address of the test's loopback backend (TEST-NET-2, never
// dialled: mapSliceIP maps it to 127.0.0.1).
const sliceIP = "198.51.100.7"

// mapSliceIP makes the test proxy dial endpoints at sliceIP on 127.0.0.1 (same port).
func mapSliceIP(cfg *config.Config) {
	for i := range cfg.Backends {
		for j := range cfg.Backends[i].Endpoints {
			e := &cfg.Backends[i].Endpoints[j]
			if host, port, err := net.SplitHostPort(e.Address); err == nil && host == sliceIP {
				e.Address = net.JoinHostPort("127.0.0.1", port)
			}
		}
	}
}

// mcsCRD is the ServiceImport CRD shipped in the sigs.k8s.io/mcs-api module go.mod requires.
func mcsCRD(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/mcs-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locate sigs.k8s.io/mcs-api: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "multicluster.x-k8s.io_serviceimports.yaml")
}

// tryGet is one GET of url: its status and body, or the error.
func tryGet(url string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
