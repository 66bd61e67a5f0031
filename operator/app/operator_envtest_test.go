package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/deployer"
	"github.com/agentgateway/agentgateway-go/operator/provider"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

// TestOperatorEndToEnd runs the whole operator against a real kube-apiserver: a Gateway and
// an HTTPRoute go in; the class is accepted, the proxy workload appears, a proxy connecting
// over configstream receives the route, acknowledges it, and only then is the Gateway
// Programmed. There is no kubelet: the "proxy" is a configstream client in this test.
func TestOperatorEndToEnd(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.Start(t, filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "gateway-api"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xdsAddr := startOperator(t, ctx, cancel, env)
	c := newClient(t, env)
	const ns = "apps"
	createWebGateway(t, ctx, c, ns)
	must(t, c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
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

	waitFor(t, "GatewayClass Accepted=True", func() (bool, string) {
		var gc gwv1.GatewayClass
		if err := c.Get(ctx, types.NamespacedName{Name: "agentgateway"}, &gc); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(gc.Status.Conditions, "Accepted"), condString(gc.Status.Conditions)
	})

	proxyName := deployer.ProxyName("web")
	key := types.NamespacedName{Namespace: ns, Name: proxyName}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}} {
		waitFor(t, "proxy "+kind(obj), func() (bool, string) {
			err := c.Get(ctx, key, obj)
			return err == nil, errString(err)
		})
		if ref := metav1.GetControllerOf(obj); ref == nil || ref.Kind != "Gateway" || ref.Name != "web" {
			t.Errorf("%s %s is not controlled by the Gateway: %+v", kind(obj), key, obj.GetOwnerReferences())
		}
	}
	var svc corev1.Service
	must(t, c.Get(ctx, key, &svc))
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("proxy Service %+v: want a LoadBalancer on port 8080", svc.Spec)
	}

	waitFor(t, "Gateway Programmed=False before any proxy", func() (bool, string) {
		gw := getGateway(t, ctx, c, ns)
		cond := meta.FindStatusCondition(gw.Status.Conditions, "Programmed")
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == "Pending", condString(gw.Status.Conditions)
	})

	// The proxy connects with its token and receives its Gateway's config.
	var mu sync.Mutex
	var got *config.Config
	pc := &configstream.Client{
		Address: xdsAddr,
		CAFile:  proxyCAFile(t, ctx, c, ns),
		Node:    configstream.Node{Pod: "web-abc", Namespace: ns, Gateway: "web", BuildVersion: "test"},
		Token:   func() (string, error) { return "token-for-web", nil },
	}
	ran := make(chan error, 1)
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("proxy client: %v", err)
		}
	}()
	go func() {
		ran <- pc.Run(ctx, func(c *config.Config) error {
			for _, b := range c.Binds {
				if b.Port == 9090 {
					return errors.New("bind port-9090: address already in use")
				}
			}
			mu.Lock()
			got = c
			mu.Unlock()
			return nil
		})
	}()
	waitFor(t, "proxy receives the route", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if got == nil {
			return false, "no config yet"
		}
		for _, b := range got.Binds {
			for _, l := range b.Listeners {
				for _, r := range l.HTTPRoutes {
					if r.Namespace == ns && r.Name == "echo" && b.Port == 8080 {
						return true, ""
					}
				}
			}
		}
		return false, "config " + got.Version + " has no route apps/echo on port 8080"
	})

	waitFor(t, "Gateway Programmed=True after the ACK", func() (bool, string) {
		gw := getGateway(t, ctx, c, ns)
		return meta.IsStatusConditionTrue(gw.Status.Conditions, "Programmed") && len(gw.Status.Addresses) > 0,
			condString(gw.Status.Conditions)
	})
	gw := getGateway(t, ctx, c, ns)
	if gw.Status.Addresses[0].Value != svc.Spec.ClusterIP {
		t.Errorf("Gateway addresses %v, want the Service's cluster IP %s (no load balancer here)", gw.Status.Addresses, svc.Spec.ClusterIP)
	}
	waitFor(t, "HTTPRoute Accepted by our controller", func() (bool, string) {
		var r gwv1.HTTPRoute
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "echo"}, &r))
		for _, p := range r.Status.Parents {
			if p.ControllerName == provider.ControllerName {
				return meta.IsStatusConditionTrue(p.Conditions, "Accepted"), condString(p.Conditions)
			}
		}
		return false, "no parent status of ours"
	})

	// Steady state: an unrelated change makes the operator reconcile, and nothing is written.
	watched := map[string]client.Object{
		"Gateway": &gwv1.Gateway{}, "HTTPRoute": &gwv1.HTTPRoute{}, "GatewayClass": &gwv1.GatewayClass{},
		"Deployment": &appsv1.Deployment{}, "Service": &corev1.Service{}, "ServiceAccount": &corev1.ServiceAccount{},
	}
	keys := map[string]types.NamespacedName{
		"Gateway": {Namespace: ns, Name: "web"}, "HTTPRoute": {Namespace: ns, Name: "echo"}, "GatewayClass": {Name: "agentgateway"},
		"Deployment": key, "Service": key, "ServiceAccount": key,
	}
	readRVs := func() map[string]string {
		out := map[string]string{}
		for k, o := range watched {
			must(t, c.Get(ctx, keys[k], o))
			out[k] = o.GetResourceVersion()
		}
		return out
	}
	rvs := readRVs()
	reconciles, passes := metricSum(t, "agentgateway_reconciles_total", "success"), metricSum(t, "agentgateway_reconcile_step_seconds", "status")
	writes, applies := metricSum(t, "agentgateway_status_writes_total", ""), metricSum(t, "agentgateway_workload_applies_total", "")
	must(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: ns}}))
	// Wait for the reconcile the ConfigMap causes and for the full status pass over its
	// result (the status loop runs after the reconcile, on its own).
	waitFor(t, "a reconcile and a status pass after the unrelated change", func() (bool, string) {
		r, p := metricSum(t, "agentgateway_reconciles_total", "success"), metricSum(t, "agentgateway_reconcile_step_seconds", "status")
		return r > reconciles && p > passes, fmt.Sprintf("reconciles %v -> %v, status passes %v -> %v", reconciles, r, passes, p)
	})
	if w, a := metricSum(t, "agentgateway_status_writes_total", ""), metricSum(t, "agentgateway_workload_applies_total", ""); w != writes || a != applies {
		t.Errorf("an unrelated change wrote %v statuses and applied %v workload objects, want none", w-writes, a-applies)
	}
	for k, rv := range readRVs() {
		if rv != rvs[k] {
			t.Errorf("%s was written (resourceVersion %s -> %s) although nothing it depends on changed", k, rvs[k], rv)
		}
	}

	// A route change reaches the proxy as a new version; the Gateway stays Programmed.
	mu.Lock()
	before := got.Version
	mu.Unlock()
	var route gwv1.HTTPRoute
	must(t, c.Get(ctx, keys["HTTPRoute"], &route))
	route.Spec.Hostnames = []gwv1.Hostname{"echo2.example.com"}
	must(t, c.Update(ctx, &route))
	waitFor(t, "proxy receives the changed route", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range got.Binds {
			for _, l := range b.Listeners {
				for _, r := range l.HTTPRoutes {
					if r.Name == "echo" && len(r.Hostnames) == 1 && r.Hostnames[0] == "echo2.example.com" {
						return got.Version != before, ""
					}
				}
			}
		}
		return false, "still " + got.Version
	})
	if gw := getGateway(t, ctx, c, ns); !meta.IsStatusConditionTrue(gw.Status.Conditions, "Programmed") {
		t.Errorf("Gateway not Programmed after a route change: %s", condString(gw.Status.Conditions))
	}

	// The proxy rejects the next config: the Gateway says so, with the proxy's error, and an
	// Event tells the user; the proxy keeps what it had.
	gw = getGateway(t, ctx, c, ns)
	gw.Spec.Listeners = append(gw.Spec.Listeners, gwv1.Listener{Name: "alt", Port: 9090, Protocol: gwv1.HTTPProtocolType})
	must(t, c.Update(ctx, gw))
	waitFor(t, "Gateway Programmed=False with the proxy's error", func() (bool, string) {
		gw := getGateway(t, ctx, c, ns)
		cond := meta.FindStatusCondition(gw.Status.Conditions, "Programmed")
		return cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "address already in use"), condString(gw.Status.Conditions)
	})
	waitFor(t, "ConfigRejected event", func() (bool, string) {
		var evs eventsv1.EventList
		must(t, c.List(ctx, &evs, client.InNamespace(ns)))
		for _, e := range evs.Items {
			if e.Reason == "ConfigRejected" && e.Regarding.Name == "web" && strings.Contains(e.Note, "address already in use") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none ConfigRejected", len(evs.Items))
	})
	mu.Lock()
	for _, b := range got.Binds {
		if b.Port == 9090 {
			t.Errorf("the rejected config was applied")
		}
	}
	mu.Unlock()
}

// startOperator runs the operator against env until the test ends and returns the config
// server's address. The operator serves it with the CA of the Secret it creates in
// agentgateway-system; proxies in tests trust that CA through proxyCAFile.
func startOperator(t *testing.T, ctx context.Context, cancel context.CancelFunc, env *envtest.Env, opts ...func(*Config)) string {
	t.Helper()
	xdsAddr := freeAddr(t)
	c := newClient(t, env)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agentgateway-system"}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	auth := configstream.AuthenticatorFunc(func(_ context.Context, token string, n configstream.Node) error {
		// The real TokenReviewer is unit-tested; here the token names the gateway.
		if token != "token-for-"+n.Gateway {
			return errUnauth
		}
		return nil
	})
	cfg := &Config{
		Options: Options{
			Namespace: "agentgateway-system", ProxyImage: "proxy:test", XDSAddress: xdsAddr,
			MetricsAddr: "0", HealthAddr: "0", XDSBindAddr: xdsAddr, WebhookPort: 9443,
			LeaseDuration: 15 * time.Second, ShutdownDeadline: 5 * time.Second,
		},
		Rest:                         env.Config,
		Log:                          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Deployer:                     deployer.Options{ProxyImage: "proxy:test", XDSAddress: xdsAddr},
		Authenticator:                auth,
		SkipControllerNameValidation: true,
	}
	for _, o := range opts {
		o(cfg)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("operator: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("operator did not stop within 30s")
		}
	})

	return xdsAddr
}

// proxyCAFile writes the CA a proxy of Gateway "web" in ns is given (the deployer's
// ConfigMap, once it exists) to a file, as the kubelet mounts it, and checks it is the CA in
// the operator's Secret.
func proxyCAFile(t *testing.T, ctx context.Context, c client.Client, ns string) string {
	t.Helper()
	var cm corev1.ConfigMap
	waitFor(t, "proxy CA ConfigMap", func() (bool, string) {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: deployer.XDSCAName("web")}, &cm)
		return err == nil, errString(err)
	})
	var sec corev1.Secret
	must(t, c.Get(ctx, types.NamespacedName{Namespace: "agentgateway-system", Name: configserver.CASecretName}, &sec))
	if cm.Data[deployer.XDSCAKey] != string(sec.Data[configserver.CACertKey]) || len(sec.Data[configserver.CAKeyKey]) == 0 {
		t.Fatalf("the proxies' CA %q is not the operator's CA Secret's", cm.Data[deployer.XDSCAKey])
	}
	if _, ok := cm.Data[configserver.CAKeyKey]; ok {
		t.Fatal("the CA key reached the proxies' namespace")
	}
	f := filepath.Join(t.TempDir(), "ca.crt")
	must(t, os.WriteFile(f, []byte(cm.Data[deployer.XDSCAKey]), 0o600))
	return f
}

func newClient(t *testing.T, env *envtest.Env) client.Client {
	t.Helper()
	scheme, err := provider.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOperatorStandardChannelOnly runs the operator on a cluster with only the core Gateway
// API CRDs (no ListenerSet, TLS/TCP/UDP routes, BackendTLSPolicy, nor our CRDs): the missing
// kinds are skipped and GatewayClasses are still accepted.
func TestOperatorStandardChannelOnly(t *testing.T) {
	dir := filepath.Join(envtest.RepoRoot(), "manifests", "gateway-api")
	var files []string
	for _, k := range []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"} {
		files = append(files, filepath.Join(dir, "gateway.networking.k8s.io_"+k+".yaml"))
	}
	env := envtest.Start(t, files...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newClient(t, env)
	// With leader election, as deployed: the lease lives in the operator's namespace.
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agentgateway-system"}}))
	startOperator(t, ctx, cancel, env, func(c *Config) { c.LeaderElect = true })
	must(t, c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "agentgateway"},
		Spec:       gwv1.GatewayClassSpec{ControllerName: provider.ControllerName},
	}))
	waitFor(t, "GatewayClass Accepted=True", func() (bool, string) {
		var gc gwv1.GatewayClass
		if err := c.Get(ctx, types.NamespacedName{Name: "agentgateway"}, &gc); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(gc.Status.Conditions, "Accepted"), condString(gc.Status.Conditions)
	})
}

var errUnauth = os.ErrPermission

// createWebGateway creates namespace ns, the GatewayClass agentgateway (ours) and in ns the
// Gateway web with one HTTP listener on 8080.
func createWebGateway(t *testing.T, ctx context.Context, c client.Client, ns string) {
	t.Helper()
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "agentgateway"},
		Spec:       gwv1.GatewayClassSpec{ControllerName: provider.ControllerName},
	}))
	must(t, c.Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: "agentgateway",
			Listeners:        []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}},
		},
	}))
}

func getGateway(t *testing.T, ctx context.Context, c client.Client, ns string) *gwv1.Gateway {
	t.Helper()
	var gw gwv1.Gateway
	must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &gw))
	return &gw
}

func waitFor(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := f()
		if ok {
			return
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// metricSum adds up the samples of the operator's metric name (counts, for histograms) in
// controller-runtime's registry, where Run registers them, over the series that have a label
// with value label ("" for all).
func metricSum(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || lp.GetValue() == label
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func condString(cs []metav1.Condition) string {
	s := ""
	for _, c := range cs {
		s += c.Type + "=" + string(c.Status) + "/" + c.Reason + " (" + c.Message + "); "
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func kind(o client.Object) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *corev1.Service:
		return "Service"
	default:
		return "ServiceAccount"
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
