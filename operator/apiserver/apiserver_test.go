package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/generated/clientset/versioned"
	"github.com/agentgateway/agentgateway-go/generated/informers/externalversions"
	"github.com/agentgateway/agentgateway-go/operator/apiserver"
)

const (
	svcName      = "agentgateway-views"
	svcNamespace = "agentgateway-system"
	partition    = "test"
)

// aggregated is a kube-apiserver with the views server registered behind it.
type aggregated struct {
	env   *envtest.Env
	views *apiserver.Views
	// client reaches the views through the kube-apiserver as cluster admin.
	client versioned.Interface
	// direct reaches the views server itself, bypassing the aggregator (for PeerPath).
	direct func(cfg *rest.Config) *rest.Config
}

// startAggregated runs the views server in-process with delegated authentication and
// authorization against a real kube-apiserver, and registers it as an APIService.
func startAggregated(t *testing.T) *aggregated {
	t.Helper()
	env := envtest.StartWith(t, envtest.Options{Aggregation: true})
	views := apiserver.NewViews()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := apiserver.NewOptions()
	opts.SecureServing.Listener = ln
	opts.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	certDir := t.TempDir()
	opts.SecureServing.ServerCert.CertDirectory = certDir
	opts.CertDNSNames = []string{svcName + "." + svcNamespace + ".svc"}
	opts.Kubeconfig = env.Kubeconfig
	cfg, err := opts.Config(views)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := cfg.New()
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	srv.InstallPeerEndpoint(views, partition)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("views server: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Log("views server did not stop within 30s")
		}
	})

	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	envtest.RegisterAPIService(t, env, envtest.APIServiceTarget{
		Group:            viewsv1a1.GroupName,
		Version:          viewsv1a1.SchemeGroupVersion.Version,
		Port:             int32(ln.Addr().(*net.TCPAddr).Port),
		CABundle:         ca,
		ServiceName:      svcName,
		ServiceNamespace: svcNamespace,
	})
	client, err := versioned.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	direct := func(cfg *rest.Config) *rest.Config {
		c := rest.CopyConfig(cfg)
		c.Host = "https://" + ln.Addr().String()
		c.CAData, c.CAFile = ca, ""
		c.ServerName = "localhost"
		return c
	}
	return &aggregated{env: env, views: views, client: client, direct: direct}
}

func effectiveConfig(ns, name, version string) *viewsv1a1.EffectiveConfig {
	return &viewsv1a1.EffectiveConfig{
		ObjectMeta:       metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": ns}},
		GatewayClassName: "agentgateway",
		Version:          version,
		Proxies:          viewsv1a1.ProxyCounts{Synced: 1, Total: 2},
		Listeners: []viewsv1a1.EffectiveListener{{
			Name: "https", Port: 443, Protocol: "HTTPS", Hostname: "*.example.com",
			TLS: &viewsv1a1.EffectiveTLS{Mode: "Terminate", Certificates: []string{ns + "/example-tls"}},
			Routes: []viewsv1a1.EffectiveRoute{{
				Kind: "HTTPRoute", Namespace: ns, Name: "web", Rule: "0",
				Matches:  []string{"PathPrefix /"},
				Backends: []viewsv1a1.EffectiveBackend{{Name: "Service/" + ns + "/web:80", Weight: 1, Endpoints: 2}},
				Policies: []viewsv1a1.EffectivePolicyField{{Field: "traffic.timeout", Source: ns + "/slow (Route)", Value: `"30s"`}},
			}},
		}},
	}
}

func proxyStatus(ns, pod, gateway string, connected bool, acked, latest, lastErr string) *viewsv1a1.ProxyStatus {
	since := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	return &viewsv1a1.ProxyStatus{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: pod},
		Gateway:        gateway,
		Pod:            pod,
		Node:           "node-1",
		Connected:      connected,
		ConnectedSince: &since,
		LastHeartbeat:  &since,
		AckedVersion:   acked,
		LatestVersion:  latest,
		RejectedVersion: func() string {
			if lastErr != "" {
				return latest
			}
			return ""
		}(),
		LastError:    lastErr,
		BuildVersion: "v0.1.0",
	}
}

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin := envtest.Kubectl(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// TestAggregatedAPI runs every check against one kube-apiserver: starting one costs seconds
// of CPU that the machine shares with other builds.
func TestAggregatedAPI(t *testing.T) {
	a := startAggregated(t)
	ctx := context.Background()
	a.views.PublishEffectiveConfigs([]*viewsv1a1.EffectiveConfig{
		effectiveConfig("team-a", "gw", "v1"),
		effectiveConfig("team-b", "gw", "v7"),
	})
	a.views.PublishProxyStatuses(partition, []*viewsv1a1.ProxyStatus{
		proxyStatus("team-a", "gw-7d9f-abcde", "gw", true, "v1", "v1", ""),
		proxyStatus("team-a", "gw-7d9f-fghij", "gw", true, "v0", "v1", "listener https: certificate team-a/example-tls has expired"),
		proxyStatus("team-b", "gw-5c4b-klmno", "gw", false, "v7", "v7", ""),
	})

	t.Run("discovery", func(t *testing.T) {
		cs := kubernetes.NewForConfigOrDie(a.env.Config)
		list, err := cs.Discovery().ServerResourcesForGroupVersion(viewsv1a1.SchemeGroupVersion.String())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]metav1.APIResource{}
		for _, r := range list.APIResources {
			got[r.Name] = r
		}
		for name, short := range map[string]string{"effectiveconfigs": "agec", "proxystatuses": "agps"} {
			r, ok := got[name]
			if !ok {
				t.Fatalf("%s not discovered: %+v", name, list.APIResources)
			}
			if !r.Namespaced || strings.Join(r.Verbs, ",") != "get,list,watch" || strings.Join(r.ShortNames, ",") != short || strings.Join(r.Categories, ",") != "agentgateway" {
				t.Errorf("%s: namespaced=%v verbs=%v short=%v categories=%v", name, r.Namespaced, r.Verbs, r.ShortNames, r.Categories)
			}
		}
	})

	t.Run("get and list", func(t *testing.T) {
		ec, err := a.client.ViewsV1alpha1().EffectiveConfigs("team-a").Get(ctx, "gw", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ec.Version != "v1" || ec.ResourceVersion == "" || len(ec.Listeners) != 1 || ec.CreationTimestamp.IsZero() {
			t.Errorf("unexpected object: %+v", ec)
		}
		if _, err := a.client.ViewsV1alpha1().EffectiveConfigs("team-a").Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get missing: want NotFound, got %v", err)
		}
		all, err := a.client.ViewsV1alpha1().EffectiveConfigs("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Items) != 2 || all.ResourceVersion == "" {
			t.Errorf("list all: %d items, rv %q", len(all.Items), all.ResourceVersion)
		}
		byLabel, err := a.client.ViewsV1alpha1().EffectiveConfigs("").List(ctx, metav1.ListOptions{LabelSelector: "team=team-b"})
		if err != nil || len(byLabel.Items) != 1 || byLabel.Items[0].Namespace != "team-b" {
			t.Errorf("label selector: %v %+v", err, byLabel)
		}
		byVersion, err := a.client.ViewsV1alpha1().EffectiveConfigs("").List(ctx, metav1.ListOptions{FieldSelector: "version=v7"})
		if err != nil || len(byVersion.Items) != 1 {
			t.Errorf("field selector version: %v %+v", err, byVersion)
		}
		ps, err := a.client.ViewsV1alpha1().ProxyStatuses("").List(ctx, metav1.ListOptions{FieldSelector: "gateway=gw,metadata.namespace=team-a,connected=true"})
		if err != nil || len(ps.Items) != 2 {
			t.Errorf("field selector gateway: %v %+v", err, ps)
		}
		_, err = a.client.ViewsV1alpha1().ProxyStatuses("").List(ctx, metav1.ListOptions{FieldSelector: "lastError=x"})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("unsupported field selector: want 400, got %v", err)
		}
	})

	t.Run("watch sees a change", func(t *testing.T) {
		list, err := a.client.ViewsV1alpha1().EffectiveConfigs("team-a").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := a.client.ViewsV1alpha1().EffectiveConfigs("team-a").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		changed := effectiveConfig("team-a", "gw", "v2")
		changed.Listeners[0].Routes[0].Matches = []string{"PathPrefix /api"}
		a.views.PublishEffectiveConfigs([]*viewsv1a1.EffectiveConfig{changed, effectiveConfig("team-b", "gw", "v7")})
		select {
		case ev := <-w.ResultChan():
			got, ok := ev.Object.(*viewsv1a1.EffectiveConfig)
			if ev.Type != watch.Modified || !ok || got.Version != "v2" || got.Listeners[0].Routes[0].Matches[0] != "PathPrefix /api" {
				t.Fatalf("unexpected event %s %+v", ev.Type, ev.Object)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no watch event within 30s")
		}

		// A resourceVersion this server never issued is answered with 410 Gone.
		_, err = a.client.ViewsV1alpha1().EffectiveConfigs("team-a").Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
		if err == nil {
			t.Fatal("watch from a foreign resourceVersion: want 410")
		}
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Errorf("watch from a foreign resourceVersion: want 410, got %v", err)
		}
	})

	t.Run("informer syncs", func(t *testing.T) {
		factory := externalversions.NewSharedInformerFactory(a.client, 0)
		inf := factory.Views().V1alpha1().ProxyStatuses()
		informer := inf.Informer()
		stop := make(chan struct{})
		defer factory.Shutdown()
		defer close(stop)
		factory.Start(stop)
		syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if !cache.WaitForCacheSync(syncCtx.Done(), informer.HasSynced) {
			t.Fatal("informer did not sync within 30s (WatchList initial-events bookmark missing?)")
		}
		if items, err := inf.Lister().List(everything()); err != nil || len(items) != 3 {
			t.Fatalf("lister has %d items (%v), want 3", len(items), err)
		}
		// A proxy of team-b connects, and team-a's first proxy acknowledges v2 (published by
		// the watch test).
		a.views.PublishProxyStatuses(partition, []*viewsv1a1.ProxyStatus{
			proxyStatus("team-a", "gw-7d9f-abcde", "gw", true, "v2", "v2", ""),
			proxyStatus("team-a", "gw-7d9f-fghij", "gw", true, "v0", "v2", "listener https: certificate team-a/example-tls has expired"),
			proxyStatus("team-b", "gw-5c4b-klmno", "gw", false, "v7", "v7", ""),
			proxyStatus("team-b", "gw-5c4b-pqrst", "gw", true, "v7", "v7", ""),
		})
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := inf.Lister().ProxyStatuses("team-b").Get("gw-5c4b-pqrst"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("informer did not see the new proxy within 30s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("kubectl tables", func(t *testing.T) {
		out, err := kubectl(t, a.env.Kubeconfig, "get", "effectiveconfigs", "-A")
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, out)
		}
		t.Logf("kubectl get effectiveconfigs -A\n%s", out)
		for _, want := range []string{"NAMESPACE", "NAME", "GATEWAY-CLASS", "LISTENERS", "ROUTES", "POLICIES", "VERSION", "PROXIES", "AGE", "team-a", "1/2", "1/1"} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q", want)
			}
		}
		out, err = kubectl(t, a.env.Kubeconfig, "get", "agec", "-n", "team-a", "-o", "wide")
		if err != nil || !strings.Contains(out, "443/HTTPS") || !strings.Contains(out, "BACKEND-ERRORS") {
			t.Errorf("kubectl get agec -o wide: %v\n%s", err, out)
		}
		t.Logf("kubectl get agec -n team-a -o wide\n%s", out)
		out, err = kubectl(t, a.env.Kubeconfig, "get", "proxystatuses", "-A")
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, out)
		}
		t.Logf("kubectl get proxystatuses -A\n%s", out)
		for _, want := range []string{"GATEWAY", "CONNECTED", "VERSION", "SYNCED", "LAST-ERROR", "certificate team-a/example-tls"} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q", want)
			}
		}
		out, err = kubectl(t, a.env.Kubeconfig, "get", "agentgateway", "-A")
		if err != nil || !strings.Contains(out, "effectiveconfig.views.agentgateway.dev/gw") || !strings.Contains(out, "proxystatus.views.agentgateway.dev/gw-7d9f-abcde") {
			t.Errorf("kubectl get agentgateway (category): %v\n%s", err, out)
		}
		out, err = kubectl(t, a.env.Kubeconfig, "get", "proxystatus", "-n", "team-a", "gw-7d9f-fghij", "-o", "yaml")
		if err != nil || !strings.Contains(out, "lastError: 'listener https: certificate team-a/example-tls has expired'") {
			t.Errorf("kubectl -o yaml: %v\n%s", err, out)
		}
	})

	t.Run("kubectl get -w shows a route change", func(t *testing.T) {
		bin := envtest.Kubectl(t)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(wctx, bin, "--kubeconfig", a.env.Kubeconfig, "get", "effectiveconfigs", "-n", "team-a", "-w", "--output-watch-events")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cancel()
			// The watch runs until cancel kills it; any other end is an error.
			if err := cmd.Wait(); err != nil && wctx.Err() == nil {
				t.Errorf("kubectl -w: %v", err)
			}
		}()
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var seen []string
		waitFor := func(prefix string) {
			t.Helper()
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("kubectl -w ended; output:\n%s", strings.Join(seen, "\n"))
					}
					seen = append(seen, l)
					if strings.HasPrefix(l, prefix) {
						return
					}
				case <-wctx.Done():
					t.Fatalf("no %s line; output:\n%s", prefix, strings.Join(seen, "\n"))
				}
			}
		}
		waitFor("ADDED")
		changed := effectiveConfig("team-a", "gw", "v3")
		changed.Listeners[0].Routes = append(changed.Listeners[0].Routes, viewsv1a1.EffectiveRoute{Kind: "HTTPRoute", Namespace: "team-a", Name: "api", Rule: "0"})
		a.views.PublishEffectiveConfigs([]*viewsv1a1.EffectiveConfig{changed, effectiveConfig("team-b", "gw", "v7")})
		waitFor("MODIFIED")
		t.Logf("kubectl get effectiveconfigs -n team-a -w --output-watch-events\n%s", strings.Join(seen, "\n"))
		if last := seen[len(seen)-1]; !strings.Contains(last, "v3") || !strings.Contains(last, " 2 ") {
			t.Errorf("MODIFIED line should show version v3 and 2 routes: %q", last)
		}
	})

	t.Run("kubectl explain reads the aggregated OpenAPI", func(t *testing.T) {
		// The aggregator adds an APIService's OpenAPI v3 document to /openapi/v3 some time
		// after discovery lists it (a queue of its own), so kubectl explain may not find
		// the resource at first (seen once in CI: "couldn't find resource for ...").
		var out string
		var err error
		explained := func() bool {
			out, err = kubectl(t, a.env.Kubeconfig, "explain", "effectiveconfigs.listeners.routes.policies")
			return err == nil && strings.Contains(out, "views.agentgateway.dev") && strings.Contains(out, "source")
		}
		for deadline := time.Now().Add(30 * time.Second); !explained(); time.Sleep(500 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("kubectl explain: %v\n%s", err, out)
			}
		}
	})

	t.Run("peer endpoint is behind delegated authn and authz", func(t *testing.T) {
		get := func(cfg *rest.Config) (int, string) {
			hc, err := rest.HTTPClientFor(a.direct(cfg))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(a.direct(cfg).Host + apiserver.PeerPath)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read peer response: %v", err)
			}
			return resp.StatusCode, string(b)
		}
		code, body := get(a.env.Config)
		if code != http.StatusOK || !strings.Contains(body, "gw-7d9f-fghij") {
			t.Errorf("admin: %d %s", code, body)
		}
		carol, err := a.env.AddUser(ctrlenvtest.User{Name: "carol"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code, body := get(carol.Config()); code != http.StatusForbidden {
			t.Errorf("user without RBAC: want 403, got %d %s", code, body)
		}
	})

	t.Run("no secret material in any view", func(t *testing.T) { testNoSecretMaterial(t, a) })

	t.Run("RBAC applies per namespace", func(t *testing.T) {
		cs := kubernetes.NewForConfigOrDie(a.env.Config)
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "views"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{viewsv1a1.GroupName},
				Resources: []string{"effectiveconfigs", "proxystatuses"},
				Verbs:     []string{"get", "list", "watch"},
			}},
		}
		for _, ns := range []string{"team-a", "team-b"} {
			if _, err := cs.CoreV1().Namespaces().Create(ctx, namespace(ns), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("create namespace %s: %v", ns, err)
			}
		}
		if _, err := cs.RbacV1().Roles("team-a").Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice-views"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "views"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
		}
		if _, err := cs.RbacV1().RoleBindings("team-a").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		alice := userClient(t, a.env, "alice")
		if _, err := alice.ViewsV1alpha1().EffectiveConfigs("team-a").Get(ctx, "gw", metav1.GetOptions{}); err != nil {
			t.Errorf("alice in team-a: %v", err)
		}
		// The explain subresource needs its own rule: effectiveconfigs alone does not grant it.
		explainGW := alice.ViewsV1alpha1().RESTClient().Get().AbsPath("/apis", viewsv1a1.GroupName, "v1alpha1", "namespaces", "team-a", "effectiveconfigs", "gw", "explain")
		if _, err := explainGW.DoRaw(ctx); !apierrors.IsForbidden(err) {
			t.Errorf("alice explaining without effectiveconfigs/explain: want 403, got %v", err)
		}
		if _, err := alice.ViewsV1alpha1().EffectiveConfigs("team-b").Get(ctx, "gw", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("alice in team-b: want 403, got %v", err)
		}
		if _, err := alice.ViewsV1alpha1().ProxyStatuses("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("alice across namespaces: want 403, got %v", err)
		}
		bob := userClient(t, a.env, "bob")
		if _, err := bob.ViewsV1alpha1().ProxyStatuses("team-a").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("bob without any role: want 403, got %v", err)
		}
	})
}

func userClient(t *testing.T, env *envtest.Env, name string) versioned.Interface {
	t.Helper()
	user, err := env.AddUser(ctrlenvtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(user.Config())
	return versioned.NewForConfigOrDie(cfg)
}

func everything() labels.Selector { return labels.Everything() }

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
