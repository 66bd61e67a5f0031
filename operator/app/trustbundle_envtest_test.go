package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/operator/provider"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
)

// TestOperatorClusterTrustBundle runs the operator against a real kube-apiserver (which
// serves certificates.k8s.io/v1 ClusterTrustBundles) and a real proxy runtime fed over
// configstream: CA certificates given only through ClusterTrustBundles (Gateway API feature
// ClusterTrustBundle, GEP-5075) verify TLS backends (BackendTLSPolicy) and client
// certificates (Gateway spec.tls.frontend). A missing bundle is reported on the policy and
// the listener; creating it, and later editing it, reaches the proxy without any other
// change. The backends are ExternalName Services naming 127.0.0.1 (envtest has no pods); the
// proxy's listener ports are moved to free loopback ports.
func TestOperatorClusterTrustBundle(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.Start(t, root+"/manifests/crds", root+"/manifests/gateway-api")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xdsAddr := startOperator(t, ctx, cancel, env)
	c := newClient(t, env)
	const ns = "apps"

	serverCA, backendCA, otherCA := testcerts.NewCA("server-ca"), testcerts.NewCA("backend-ca"), testcerts.NewCA("other-ca")
	clientCA, otherClientCA := testcerts.NewCA("client-ca"), testcerts.NewCA("other-client-ca")
	goodPort := startTLSBackend(t, "good", backendCA.Issue("backend.internal"))
	badPort := startTLSBackend(t, "bad", otherCA.Issue("backend.internal"))
	serverLeaf := serverCA.Issue("www.example.com")

	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "agentgateway"},
		Spec:       gwv1.GatewayClassSpec{ControllerName: provider.ControllerName},
	}))
	must(t, c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte(serverLeaf.CertPEM), corev1.TLSPrivateKeyKey: []byte(serverLeaf.KeyPEM)},
	}))
	bundleRef := func(name string) gwv1.ObjectReference {
		return gwv1.ObjectReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", Name: gwv1.ObjectName(name)}
	}
	must(t, c.Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: "agentgateway",
			Listeners: []gwv1.Listener{
				{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType},
				{Name: "https", Port: 8443, Protocol: gwv1.HTTPSProtocolType, TLS: &gwv1.ListenerTLSConfig{
					CertificateRefs: []gwv1.SecretObjectReference{{Name: "tls"}},
				}},
			},
			TLS: &gwv1.GatewayTLSConfig{Frontend: &gwv1.FrontendTLSConfig{Default: gwv1.TLSConfig{
				Validation: &gwv1.FrontendTLSValidation{CACertificateRefs: []gwv1.ObjectReference{bundleRef("clients")}},
			}}},
		},
	}))
	for name, port := range map[string]string{"good": goodPort, "bad": badPort} {
		p, err := strconv.Atoi(port)
		must(t, err)
		must(t, c.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1",
				Ports: []corev1.ServicePort{{Name: "https", Port: int32(p), Protocol: corev1.ProtocolTCP}},
			},
		}))
		must(t, c.Create(ctx, &gwv1.BackendTLSPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: gwv1.BackendTLSPolicySpec{
				TargetRefs: []gwv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwv1.LocalPolicyTargetReference{Kind: "Service", Name: gwv1.ObjectName(name)}}},
				Validation: gwv1.BackendTLSPolicyValidation{
					CACertificateRefs: []gwv1.LocalObjectReference{{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", Name: "backends"}},
					Hostname:          "backend.internal",
				},
			},
		}))
		must(t, c.Create(ctx, &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
				Rules: []gwv1.HTTPRouteRule{{
					Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr.To("/" + name)}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(p))}}}},
				}},
			},
		}))
	}

	// Without the bundles: the policy and the listener say which bundle is missing.
	waitFor(t, "BackendTLSPolicy ResolvedRefs=False InvalidCACertificateRef", func() (bool, string) {
		var p gwv1.BackendTLSPolicy
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "good"}, &p))
		for _, a := range p.Status.Ancestors {
			cond := meta.FindStatusCondition(a.Conditions, "ResolvedRefs")
			if cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == "InvalidCACertificateRef" && strings.Contains(cond.Message, "ClusterTrustBundle backends not found") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", p.Status.Ancestors)
	})
	waitFor(t, "listener https ResolvedRefs=False InvalidCACertificateRef", func() (bool, string) {
		gw := getGateway(t, ctx, c, ns)
		for _, l := range gw.Status.Listeners {
			if l.Name == "https" {
				cond := meta.FindStatusCondition(l.Conditions, "ResolvedRefs")
				return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == "InvalidCACertificateRef" &&
					strings.Contains(cond.Message, "ClusterTrustBundle clients not found"), condString(l.Conditions)
			}
		}
		return false, "no status for listener https"
	})

	px := startTestProxy(t, ctx, c, xdsAddr, ns, "web-ctb", nil)
	ctb := func(name string, ca *testcerts.CA) *certv1.ClusterTrustBundle {
		return &certv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: certv1.ClusterTrustBundleSpec{TrustBundle: ca.CertPEM}}
	}
	must(t, c.Create(ctx, ctb("backends", backendCA)))
	clients := ctb("clients", clientCA)
	must(t, c.Create(ctx, clients))
	px.waitForClientCA(t, clientCA)

	httpURL := fmt.Sprintf("http://127.0.0.1:%d", px.port(t, 8080))
	if code, body := httpGet(t, httpURL+"/good"); code != 200 || body != "good" {
		t.Errorf("backend signed by the bundle's CA: %d %q; want 200 good", code, body)
	}
	if code, body := httpGet(t, httpURL+"/bad"); code != http.StatusBadGateway {
		t.Errorf("backend signed by another CA: %d %q; want 502", code, body)
	}
	waitFor(t, "BackendTLSPolicy ResolvedRefs=True", func() (bool, string) {
		var p gwv1.BackendTLSPolicy
		must(t, c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "good"}, &p))
		for _, a := range p.Status.Ancestors {
			if meta.IsStatusConditionTrue(a.Conditions, "ResolvedRefs") && meta.IsStatusConditionTrue(a.Conditions, "Accepted") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", p.Status.Ancestors)
	})

	httpsAddr := fmt.Sprintf("127.0.0.1:%d", px.port(t, 8443))
	if err := httpsGet(httpsAddr, serverCA, clientCA.Issue("client")); err != nil {
		t.Errorf("client certificate signed by the bundle's CA: %v", err)
	}
	if err := httpsGet(httpsAddr, serverCA, otherClientCA.Issue("client")); err == nil {
		t.Error("client certificate signed by another CA was accepted")
	}

	// Editing the bundle is enough: the new CA reaches the proxy, the old one is refused.
	must(t, c.Get(ctx, types.NamespacedName{Name: "clients"}, clients))
	clients.Spec.TrustBundle = otherClientCA.CertPEM
	must(t, c.Update(ctx, clients))
	px.waitForClientCA(t, otherClientCA)
	if err := httpsGet(httpsAddr, serverCA, otherClientCA.Issue("client")); err != nil {
		t.Errorf("after the bundle edit, a client certificate of its new CA: %v", err)
	}
	if err := httpsGet(httpsAddr, serverCA, clientCA.Issue("client")); err == nil {
		t.Error("after the bundle edit, a client certificate of its old CA was accepted")
	}
}

// testProxy is a proxy runtime fed by the operator over configstream, its listeners moved to
// free loopback ports.
type testProxy struct {
	mu      sync.Mutex
	ports   map[int]int // Gateway listener port -> loopback port
	applied *config.Config
}

// startTestProxy starts a proxy runtime for Gateway web in ns, as pod, fed over configstream;
// local, when set, adjusts each config before it is applied (testProxy.applied keeps the
// config as the operator sent it).
func startTestProxy(t *testing.T, ctx context.Context, c client.Client, xdsAddr, ns, pod string, local func(*config.Config)) *testProxy {
	t.Helper()
	px := &testProxy{ports: map[int]int{}}
	rt := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second})
	pc := &configstream.Client{
		Address: xdsAddr,
		CAFile:  proxyCAFile(t, ctx, c, ns),
		Node:    configstream.Node{Pod: pod, Namespace: ns, Gateway: "web", BuildVersion: "test"},
		Token:   func() (string, error) { return "token-for-web", nil },
	}
	pctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() {
		ran <- pc.Run(pctx, func(in *config.Config) error {
			cfg := in.DeepCopy()
			px.mu.Lock()
			defer px.mu.Unlock()
			for i := range cfg.Binds {
				b := &cfg.Binds[i]
				if px.ports[b.Port] == 0 {
					addr := freeAddr(t)
					p, err := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
					if err != nil {
						return err
					}
					px.ports[b.Port] = p
				}
				b.Address, b.Port = "127.0.0.1", px.ports[b.Port]
			}
			if local != nil {
				local(cfg)
			}
			if err := rt.Apply(cfg); err != nil {
				return err
			}
			px.applied = in
			return nil
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("proxy client: %v", err)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := rt.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	return px
}

// waitForClientCA waits until the applied config validates client certificates of the HTTPS
// listener with exactly ca.
func (px *testProxy) waitForClientCA(t *testing.T, ca *testcerts.CA) {
	t.Helper()
	waitFor(t, "client validation with CA "+ca.Cert.Subject.CommonName+" applied", func() (bool, string) {
		px.mu.Lock()
		defer px.mu.Unlock()
		if px.applied == nil {
			return false, "no config applied yet"
		}
		for _, b := range px.applied.Binds {
			for _, l := range b.Listeners {
				if l.TLS != nil && l.TLS.ClientValidation != nil {
					return strings.TrimSpace(l.TLS.ClientValidation.CACertificates) == strings.TrimSpace(ca.CertPEM), "config " + px.applied.Version + " has another client CA"
				}
			}
		}
		return false, "config " + px.applied.Version + " has no client validation"
	})
}

func (px *testProxy) port(t *testing.T, listenerPort int) int {
	t.Helper()
	px.mu.Lock()
	defer px.mu.Unlock()
	p := px.ports[listenerPort]
	if p == 0 {
		t.Fatalf("listener port %d is not served (served: %v)", listenerPort, px.ports)
	}
	return p
}

// startTLSBackend starts an HTTPS backend with leaf that answers its name, and returns its
// port.
func startTLSBackend(t *testing.T, name string, leaf *testcerts.Leaf) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	// The proxy refuses the untrusted backend's certificate on purpose: no handshake log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL[strings.LastIndex(srv.URL, ":")+1:]
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// httpsGet makes one request to the HTTPS listener at addr presenting cert, and fails unless
// it is answered 200.
func httpsGet(addr string, serverCA *testcerts.CA, cert *testcerts.Leaf) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: serverCA.Pool(), ServerName: "www.example.com", Certificates: []tls.Certificate{cert.TLS},
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/good")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
