package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/viewstore"
)

func ec(ns, name, version string) *viewsv1a1.EffectiveConfig {
	return &viewsv1a1.EffectiveConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Version: version}
}

func proxy(ns, pod, gw string, connected bool, acked string) *viewsv1a1.ProxyStatus {
	return &viewsv1a1.ProxyStatus{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod}, Pod: pod, Gateway: gw, Connected: connected, AckedVersion: acked}
}

func counts(t *testing.T, v *Views, ns, name string) viewsv1a1.ProxyCounts {
	t.Helper()
	e, ok := v.EffectiveConfigs.Get(ns, name)
	if !ok {
		t.Fatalf("%s/%s missing", ns, name)
	}
	return e.Proxies
}

func TestProxyCountsFollowProxyStatuses(t *testing.T) {
	v := NewViews()
	v.PublishEffectiveConfigs([]*viewsv1a1.EffectiveConfig{ec("a", "gw", "v2"), ec("b", "gw", "v1")})
	v.PublishProxyStatuses("replica-1", []*viewsv1a1.ProxyStatus{
		proxy("a", "gw-1", "gw", true, "v2"),
		proxy("a", "gw-2", "gw", true, "v1"),
		proxy("a", "gw-3", "gw", false, "v2"), // disconnected: not counted
	})
	v.PublishProxyStatuses("replica-2", []*viewsv1a1.ProxyStatus{proxy("a", "gw-4", "gw", true, "v2")})
	if got := counts(t, v, "a", "gw"); got != (viewsv1a1.ProxyCounts{Synced: 2, Total: 3}) {
		t.Errorf("a/gw: %+v", got)
	}
	if got := counts(t, v, "b", "gw"); got != (viewsv1a1.ProxyCounts{}) {
		t.Errorf("b/gw: %+v", got)
	}
	rv := v.EffectiveConfigs.ResourceVersion()
	// gw-2 acknowledges v2: a/gw changes, b/gw does not.
	v.PublishProxyStatuses("replica-1", []*viewsv1a1.ProxyStatus{
		proxy("a", "gw-1", "gw", true, "v2"),
		proxy("a", "gw-2", "gw", true, "v2"),
	})
	if got := counts(t, v, "a", "gw"); got != (viewsv1a1.ProxyCounts{Synced: 3, Total: 3}) {
		t.Errorf("a/gw after ack: %+v", got)
	}
	w, err := v.EffectiveConfigs.Watch(watchFrom(rv))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := <-w.ResultChan()
	if e := ev.Object.(*viewsv1a1.EffectiveConfig); e.Namespace != "a" {
		t.Errorf("expected one change, for a/gw; got %s %s", ev.Type, e.Namespace)
	}
	// A new translation keeps the counts.
	v.PublishEffectiveConfigs([]*viewsv1a1.EffectiveConfig{ec("a", "gw", "v3")})
	if got := counts(t, v, "a", "gw"); got != (viewsv1a1.ProxyCounts{Synced: 0, Total: 3}) {
		t.Errorf("a/gw after new version: %+v", got)
	}
	if _, ok := v.EffectiveConfigs.Get("b", "gw"); ok {
		t.Error("b/gw should be gone after a translation without it")
	}
}

// TestReplicasServeTheSameProxyStatuses runs two replicas' views, each with its own
// connected proxies, and checks that after one peer sync both serve the same set, and that a
// replica leaving takes its proxies with it.
func TestReplicasServeTheSameProxyStatuses(t *testing.T) {
	a, b := NewViews(), NewViews()
	a.PublishProxyStatuses("op-a", []*viewsv1a1.ProxyStatus{proxy("ns", "gw-1", "gw", true, "v1")})
	b.PublishProxyStatuses("op-b", []*viewsv1a1.ProxyStatus{proxy("ns", "gw-2", "gw", true, "v1"), proxy("ns", "gw-3", "gw", false, "v0")})
	srvA := httptest.NewTLSServer(PeerHandler(a, "op-a"))
	defer srvA.Close()
	srvB := httptest.NewTLSServer(PeerHandler(b, "op-b"))
	defer srvB.Close()
	peers := []Peer{{Name: "op-a", URL: srvA.URL}, {Name: "op-b", URL: srvB.URL}}
	discover := func(context.Context) ([]Peer, error) { return peers, nil }
	syncA := &PeerSyncer{Views: a, Self: "op-a", Discover: discover, Client: srvB.Client()}
	syncB := &PeerSyncer{Views: b, Self: "op-b", Discover: discover, Client: srvA.Client()}
	syncA.SyncOnce(context.Background())
	syncB.SyncOnce(context.Background())

	la, _ := a.ProxyStatuses.List("")
	lb, _ := b.ProxyStatuses.List("")
	if len(la) != 3 || len(lb) != 3 {
		t.Fatalf("replica a has %d proxies, b has %d; want 3 each", len(la), len(lb))
	}
	for i := range la {
		x, y := la[i].DeepCopy(), lb[i].DeepCopy()
		x.ResourceVersion, y.ResourceVersion = "", ""
		if !equality.Semantic.DeepEqual(x, y) {
			t.Errorf("replicas differ:\n%+v\n%+v", x, y)
		}
	}
	// Imports are not re-exported: b serves only its own two.
	rec := httptest.NewRecorder()
	PeerHandler(b, "op-b").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PeerPath, nil))
	if n := len(b.LocalProxyStatuses("op-b")); n != 2 || rec.Code != http.StatusOK {
		t.Errorf("b serves %d local proxies (status %d), want 2", n, rec.Code)
	}

	// op-b leaves the Service: a drops its proxies.
	peers = peers[:1]
	syncA.SyncOnce(context.Background())
	if la, _ := a.ProxyStatuses.List(""); len(la) != 1 {
		t.Errorf("after op-b left, a has %d proxies, want 1", len(la))
	}
}

func watchFrom(rv string) viewstore.WatchOptions[*viewsv1a1.EffectiveConfig] {
	return viewstore.WatchOptions[*viewsv1a1.EffectiveConfig]{ResourceVersion: rv}
}

func TestRejectionTextIsScrubbed(t *testing.T) {
	v := NewViews()
	p := proxy("ns", "gw-1", "gw", true, "v1")
	p.LastError = "listener https: tls: failed to parse private key -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIMARKERKEYMATERIAL\n-----END EC PRIVATE KEY----- (upstream said: Authorization: Bearer MARKERTOKEN12345)"
	v.PublishProxyStatuses("op", []*viewsv1a1.ProxyStatus{p})
	got, _ := v.ProxyStatuses.Get("ns", "gw-1")
	if strings.Contains(got.LastError, "MARKER") {
		t.Fatalf("secret material kept: %q", got.LastError)
	}
	if !strings.Contains(got.LastError, "failed to parse private key [redacted private key]") || !strings.Contains(got.LastError, "Bearer [redacted]") {
		t.Errorf("unexpected scrub: %q", got.LastError)
	}
	if !strings.Contains(p.LastError, "MARKER") {
		t.Error("the caller's object was modified")
	}
}

func TestFlagsArePrefixed(t *testing.T) {
	fs := pflag.NewFlagSet("operator", pflag.ContinueOnError)
	fs.String("bind-address", "", "an operator flag the library would collide with")
	o := NewOptions()
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--views-secure-port=9443", "--views-tls-cert-file=/c/tls.crt", "--views-tls-private-key-file=/c/tls.key", "--bind-address=x"}); err != nil {
		t.Fatal(err)
	}
	if o.SecureServing.BindPort != 9443 || o.SecureServing.ServerCert.CertKey.CertFile != "/c/tls.crt" {
		t.Errorf("flags not applied: %+v", o.SecureServing)
	}
}
