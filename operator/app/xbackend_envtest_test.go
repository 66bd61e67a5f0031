package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/provider"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// xbPort is the XBackend's spec.port.number: every selected Pod serves on it.
const xbPort = 8080

// TestOperatorXBackendEndpointSelector runs the operator against a real kube-apiserver and a
// real proxy runtime fed over configstream: an HTTPRoute names an XBackend of type
// EndpointSelector, and the endpoints the operator sends follow the Pods its selector
// matches as they are created, become Ready, lose Readiness, lose the label, start
// terminating and are deleted; requests through the proxy reach the selected Pods' loopback
// backends. Pods of another namespace or without the labels never become endpoints.
//
// envtest runs no kubelet: the test writes each Pod's status (IP, Ready condition) itself.
// Pod IPs are TEST-NET-2 addresses; the test's proxy dials each one's loopback backend
// (podBackends) after checking the address the operator sent.
func TestOperatorXBackendEndpointSelector(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.Start(t, root+"/manifests/crds", root+"/manifests/gateway-api")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xdsAddr := startOperator(t, ctx, cancel, env)
	c := newClient(t, env)
	const ns = "xb"

	// Pod name -> its IP and the loopback backend that answers with the Pod's name.
	ips := map[string]string{"api-a": "198.51.100.21", "api-b": "198.51.100.22", "other": "198.51.100.23", "elsewhere": "198.51.100.24"}
	backends := map[string]string{} // IP:xbPort -> loopback address
	for name, ip := range ips {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) }))
		t.Cleanup(srv.Close)
		backends[net.JoinHostPort(ip, strconv.Itoa(xbPort))] = strings.TrimPrefix(srv.URL, "http://")
	}

	createWebGateway(t, ctx, c, ns)
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "xb-other"}}))
	must(t, c.Create(ctx, &gwxv1a1.XBackend{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
		Spec: gwxv1a1.BackendSpec{
			Type: gwxv1a1.BackendTypeEndpointSelector,
			Port: gwxv1a1.BackendPort{Number: xbPort},
			EndpointSelector: &gwxv1a1.EndpointSelectorBackend{LabelSelector: gwxv1a1.LabelSelector{
				MatchLabels: map[gwv1.LabelKey]gwv1.LabelValue{"app": "api"},
			}},
		},
	}))
	must(t, c.Create(ctx, &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
				Group: ptr.To(gwv1.Group(gwxv1a1.GroupName)), Kind: ptr.To(gwv1.Kind("XBackend")), Name: "api",
			}}}}}},
		},
	}))

	px := startTestProxy(t, ctx, c, xdsAddr, ns, "web-xb", func(cfg *config.Config) {
		for i := range cfg.Backends {
			for j := range cfg.Backends[i].Endpoints {
				if to, ok := backends[cfg.Backends[i].Endpoints[j].Address]; ok {
					cfg.Backends[i].Endpoints[j].Address = to
				}
			}
		}
	})
	waitFor(t, "listener 8080 served", func() (bool, string) {
		px.mu.Lock()
		defer px.mu.Unlock()
		return px.ports[8080] != 0, fmt.Sprintf("served: %v", px.ports)
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", px.port(t, 8080))
	endpoints := func(pods ...string) {
		t.Helper()
		var want []string
		for _, p := range pods {
			want = append(want, net.JoinHostPort(ips[p], strconv.Itoa(xbPort)))
		}
		slices.Sort(want)
		waitFor(t, fmt.Sprintf("operator sends endpoints %v", want), func() (bool, string) {
			px.mu.Lock()
			defer px.mu.Unlock()
			if px.applied == nil {
				return false, "no config applied"
			}
			for _, b := range px.applied.Backends {
				if b.Name == "xbackend/xb/api" {
					var got []string
					for _, e := range b.Endpoints {
						got = append(got, e.Address)
					}
					return slices.Equal(got, want), fmt.Sprintf("%v", got)
				}
			}
			return false, "config " + px.applied.Version + " has no backend xbackend/xb/api"
		})
	}
	answers := func(pods ...string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("requests answered by %v", pods), func() (bool, string) {
			seen := map[string]bool{}
			for range 4 * len(pods) {
				code, body, err := tryGet(url)
				if err != nil || code != 200 {
					return false, fmt.Sprintf("%d %q %v", code, body, err)
				}
				seen[body] = true
			}
			for _, p := range pods {
				if !seen[p] {
					return false, fmt.Sprintf("answered by %v", seen)
				}
			}
			return len(seen) == len(pods), fmt.Sprintf("answered by %v", seen)
		})
	}
	ready := func(ns, name string, isReady bool) {
		t.Helper()
		var pod corev1.Pod
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &pod))
		st := corev1.ConditionFalse
		if isReady {
			st = corev1.ConditionTrue
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.PodIP = ips[name]
		pod.Status.PodIPs = []corev1.PodIP{{IP: ips[name]}}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		must(t, c.Status().Update(ctx, &pod))
	}
	createPod := func(ns, name string, labels map[string]string) {
		t.Helper()
		must(t, c.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:test"}}},
		}))
	}
	patchPod := func(name string, f func(*corev1.Pod)) {
		t.Helper()
		var pod corev1.Pod
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &pod))
		f(&pod)
		must(t, c.Update(ctx, &pod))
	}

	// status.ancestors: the Gateway web, Accepted and ResolvedRefs.
	xbStatus := func(name string) (*gwxv1a1.XBackend, string) {
		var xb gwxv1a1.XBackend
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &xb))
		s := ""
		for _, a := range xb.Status.Ancestors {
			s += fmt.Sprintf("[%s %s/%s: %s] ", a.ControllerName, deref(a.AncestorRef.Namespace), a.AncestorRef.Name, condString(a.Conditions))
		}
		return &xb, s
	}
	waitFor(t, "XBackend api ancestor web Accepted, ResolvedRefs", func() (bool, string) {
		xb, all := xbStatus("api")
		return len(xb.Status.Ancestors) == 1 && xb.Status.Ancestors[0].AncestorRef.Name == "web" &&
			string(xb.Status.Ancestors[0].ControllerName) == provider.ControllerName &&
			meta.IsStatusConditionTrue(xb.Status.Ancestors[0].Conditions, "Accepted") &&
			meta.IsStatusConditionTrue(xb.Status.Ancestors[0].Conditions, "ResolvedRefs"), all
	})
	settled, _ := xbStatus("api")

	endpoints()
	if code, body := httpGet(t, url); code == 200 {
		t.Fatalf("no Pod selected: %d %q; want an error status", code, body)
	}

	// A Pod is an endpoint once Ready, not before.
	createPod(ns, "api-a", map[string]string{"app": "api"})
	ready(ns, "api-a", false)
	// Unselected Pods, ready: one without the label, one in another namespace.
	createPod(ns, "other", map[string]string{"app": "other"})
	ready(ns, "other", true)
	createPod("xb-other", "elsewhere", map[string]string{"app": "api"})
	ready("xb-other", "elsewhere", true)
	ready(ns, "api-a", true)
	endpoints("api-a")
	answers("api-a")

	createPod(ns, "api-b", map[string]string{"app": "api", "version": "2"})
	ready(ns, "api-b", true)
	endpoints("api-a", "api-b")
	answers("api-a", "api-b")

	// Losing Readiness, then the label, takes a Pod out; getting both back puts it in.
	ready(ns, "api-a", false)
	endpoints("api-b")
	answers("api-b")
	ready(ns, "api-a", true)
	endpoints("api-a", "api-b")
	patchPod("api-a", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "retired"} })
	endpoints("api-b")
	patchPod("api-a", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "api"} })
	endpoints("api-a", "api-b")

	// A terminating Pod (held by a finalizer) takes no new traffic; deleted, it stays out.
	patchPod("api-b", func(p *corev1.Pod) { p.Finalizers = []string{"example.com/hold"} })
	must(t, c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-b", Namespace: ns}}, client.GracePeriodSeconds(0)))
	endpoints("api-a")
	answers("api-a")
	patchPod("api-b", func(p *corev1.Pod) { p.Finalizers = nil })
	must(t, c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-a", Namespace: ns}}, client.GracePeriodSeconds(0)))
	endpoints()

	// A refused XBackend (protocol MCP) is Accepted=False for the Gateway whose route names
	// it; once no route names it, our ancestor is removed.
	must(t, c.Create(ctx, &gwxv1a1.XBackend{
		ObjectMeta: metav1.ObjectMeta{Name: "mcp", Namespace: ns},
		Spec: gwxv1a1.BackendSpec{
			Type: gwxv1a1.BackendTypeEndpointSelector, Port: gwxv1a1.BackendPort{Number: xbPort}, Protocol: ptr.To(gwxv1a1.BackendProtocolMCP),
			EndpointSelector: &gwxv1a1.EndpointSelectorBackend{LabelSelector: gwxv1a1.LabelSelector{
				MatchLabels: map[gwv1.LabelKey]gwv1.LabelValue{"app": "mcp"},
			}},
		},
	}))
	mcpRoute := &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "mcp", Namespace: ns},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Rules: []gwv1.HTTPRouteRule{{
				Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr.To("/mcp")}}},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
					Group: ptr.To(gwv1.Group(gwxv1a1.GroupName)), Kind: ptr.To(gwv1.Kind("XBackend")), Name: "mcp",
				}}}},
			}},
		},
	}
	must(t, c.Create(ctx, mcpRoute))
	waitFor(t, "XBackend mcp ancestor web Accepted=False UnsupportedValue", func() (bool, string) {
		xb, all := xbStatus("mcp")
		if len(xb.Status.Ancestors) != 1 {
			return false, all
		}
		cond := meta.FindStatusCondition(xb.Status.Ancestors[0].Conditions, "Accepted")
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == "UnsupportedValue" && strings.Contains(cond.Message, "MCP"), all
	})
	must(t, c.Delete(ctx, mcpRoute))
	waitFor(t, "XBackend mcp ancestor removed", func() (bool, string) {
		xb, all := xbStatus("mcp")
		return len(xb.Status.Ancestors) == 0, all
	})
	// Every reconcile above wrote XBackend api's status again only if it changed: it did
	// not, so the object is as it was.
	if now, all := xbStatus("api"); now.ResourceVersion != settled.ResourceVersion {
		t.Errorf("XBackend api was written while its status stayed the same (resourceVersion %s -> %s): %s", settled.ResourceVersion, now.ResourceVersion, all)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
