package configserver

import (
	"context"
	"errors"
	dto "github.com/prometheus/client_model/go"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// serveTLS makes s serve certificates for 127.0.0.1 from a new CA and returns the file of
// that CA, as a proxy has it.
func serveTLS(t *testing.T, s *Server) string {
	t.Helper()
	ca, err := streamcert.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving := &streamcert.Serving{CA: ca, Hosts: []string{"127.0.0.1"}}
	if err := serving.Renew(); err != nil {
		t.Fatal(err)
	}
	s.Certificate = serving.GetCertificate
	f := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

var allowAll = configstream.AuthenticatorFunc(func(context.Context, string, configstream.Node) error { return nil })

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishAckProgrammedNack(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(allowAll, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	caFile := serveTLS(t, s)
	changes := make(chan types.NamespacedName, 100)
	s.OnChange = func(gw types.NamespacedName) { changes <- gw }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	gw := types.NamespacedName{Namespace: "ns", Name: "gw"}
	if ok, why := s.Programmed(gw, 1); ok || !strings.Contains(why, "not published") {
		t.Fatalf("Programmed before publish = %v %q", ok, why)
	}
	good := &config.Config{Binds: []config.Bind{{Name: "port-80", Port: 80, Protocol: config.ProtocolHTTP}}}
	if _, err := s.Publish(gw, 1, good, nil); err != nil {
		t.Fatal(err)
	}
	if ok, why := s.Programmed(gw, 1); ok || !strings.Contains(why, "no proxy") {
		t.Fatalf("Programmed without proxies = %v %q", ok, why)
	}

	c := &configstream.Client{
		Address: ln.Addr().String(),
		CAFile:  caFile,
		Node:    configstream.Node{Pod: "gw-1", Namespace: "ns", Gateway: "gw", BuildVersion: "dev"},
		Token:   func() (string, error) { return "t", nil },
	}
	ran := make(chan error, 1)
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("client Run: %v", err)
		}
	}()
	go func() {
		ran <- c.Run(ctx, func(c *config.Config) error {
			if c.Binds[0].Port == 81 {
				return errors.New("port 81 is taken")
			}
			return nil
		})
	}()
	eventually(t, "programmed", func() bool { ok, _ := s.Programmed(gw, 1); return ok })
	if (<-changes) != gw {
		t.Fatal("OnChange not called with the gateway")
	}

	// A new Gateway generation that changes nothing in the config stays Programmed.
	if changed, err := s.Publish(gw, 2, &config.Config{Binds: good.Binds}, nil); err != nil || changed {
		t.Fatalf("identical config reported as changed (%v)", err)
	}
	if ok, why := s.Programmed(gw, 2); !ok {
		t.Fatalf("unchanged config at generation 2 not programmed: %s", why)
	}

	// A config that carries its version already (translation computes the same content
	// hash) is recognised as the published one without encoding it again.
	if v, err := configstream.VersionOf(good); err != nil || v != good.Version {
		t.Fatalf("VersionOf(published config) = %q, %v; Publish set %q", v, err, good.Version)
	}
	if changed, err := s.Publish(gw, 3, &config.Config{Binds: good.Binds, Version: good.Version}, nil); err != nil || changed {
		t.Fatalf("config with the published version reported as changed (%v)", err)
	}
	if ok, why := s.Programmed(gw, 3); !ok {
		t.Fatalf("unchanged config at generation 3 not programmed: %s", why)
	}
	// A version that is not the published one's is recomputed from the content.
	if changed, err := s.Publish(gw, 3, &config.Config{Binds: good.Binds, Version: "stale"}, nil); err != nil || changed {
		t.Fatalf("identical config with a wrong version reported as changed (%v)", err)
	}

	bad := &config.Config{Binds: []config.Bind{{Name: "port-81", Port: 81, Protocol: config.ProtocolHTTP}}}
	if _, err := s.Publish(gw, 4, bad, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "nack", func() bool {
		ps := s.Proxies()
		return len(ps) == 1 && ps[0].LastError == "port 81 is taken"
	})
	ps := s.Proxies()[0]
	if ps.AckedVersion != good.Version || ps.RejectedVersion != bad.Version || ps.LatestVersion != bad.Version || !ps.Connected || ps.BuildVersion != "dev" {
		t.Fatalf("proxy state %+v", ps)
	}
	if ok, why := s.Programmed(gw, 4); ok || !strings.Contains(why, "port 81 is taken") {
		t.Fatalf("Programmed after nack = %v %q", ok, why)
	}
	if n := testutil.ToFloat64(s.metrics.nacks.WithLabelValues(gw.Namespace, gw.Name)); n != 1 {
		t.Fatalf("nacks metric %v", n)
	}
	if n := testutil.ToFloat64(s.metrics.acks.WithLabelValues(gw.Namespace, gw.Name)); n < 1 {
		t.Fatalf("acks metric %v", n)
	}
	var lat dto.Metric
	if err := s.metrics.ackLatency.Write(&lat); err != nil || lat.GetHistogram().GetSampleCount() < 1 {
		t.Fatalf("push latency histogram %v (%v); want an observation per ack", lat.GetHistogram(), err)
	}
	if n := testutil.ToFloat64(s.metrics.connected); n != 1 {
		t.Fatalf("connected metric %v", n)
	}
	if n, other := s.ConnectedTo(gw), s.ConnectedTo(types.NamespacedName{Namespace: "ns", Name: "other"}); n != 1 || other != 0 {
		t.Fatalf("ConnectedTo: %d to the gateway, %d to another; want 1 and 0", n, other)
	}
	// The first config went whole; the bad one as a delta from the good one.
	if p, d := testutil.ToFloat64(s.metrics.pushes), testutil.ToFloat64(s.metrics.deltaPushes); p != 2 || d != 1 {
		t.Fatalf("pushes %v, delta pushes %v; want 2 and 1", p, d)
	}
	if b := testutil.ToFloat64(s.metrics.pushBytes); b < 50 {
		t.Fatalf("push bytes %v", b)
	}
}

func TestTokenReviewer(t *testing.T) {
	reviews := 0
	statuses := map[string]authnv1.TokenReviewStatus{
		"good": {Authenticated: true, Audiences: []string{Audience}, User: authnv1.UserInfo{
			Username: "system:serviceaccount:ns:gw-agentgateway",
			Extra:    map[string]authnv1.ExtraValue{podNameExtra: {"gw-1"}},
		}},
		"api-audience": {Authenticated: true, Audiences: []string{"https://kubernetes.default.svc"}, User: authnv1.UserInfo{Username: "system:serviceaccount:ns:gw-agentgateway"}},
		"expired":      {Authenticated: false, Error: "token expired"},
	}
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			tr := obj.(*authnv1.TokenReview)
			reviews++
			tr.Status = statuses[tr.Spec.Token]
			return nil
		},
	}).Build()
	r := &TokenReviewer{Client: c, ServiceAccountName: func(gw string) string { return gw + "-agentgateway" }}
	node := configstream.Node{Pod: "gw-1", Namespace: "ns", Gateway: "gw"}
	for _, tc := range []struct {
		token string
		node  configstream.Node
		code  codes.Code
	}{
		{"good", node, codes.OK},
		{"good", node, codes.OK}, // cached
		{"good", configstream.Node{Pod: "gw-1", Namespace: "ns", Gateway: "other"}, codes.PermissionDenied},
		{"good", configstream.Node{Pod: "gw-1", Namespace: "other", Gateway: "gw"}, codes.PermissionDenied},
		{"good", configstream.Node{Pod: "gw-2", Namespace: "ns", Gateway: "gw"}, codes.PermissionDenied},
		{"api-audience", node, codes.Unauthenticated},
		{"expired", node, codes.Unauthenticated},
	} {
		err := r.Authenticate(context.Background(), tc.token, tc.node)
		if status.Code(err) != tc.code {
			t.Errorf("%s as %+v: got %v, want %s", tc.token, tc.node, err, tc.code)
		}
	}
	if reviews != 3 {
		t.Errorf("%d TokenReviews, want 3 (positive reviews cached)", reviews)
	}
}

func TestProgrammedCountsRemoteProxies(t *testing.T) {
	s, err := New(allowAll, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := types.NamespacedName{Namespace: "ns", Name: "gw"}
	c := &config.Config{Binds: []config.Bind{{Name: "port-80", Port: 80, Protocol: config.ProtocolHTTP}}}
	if _, err := s.Publish(gw, 1, c, nil); err != nil {
		t.Fatal(err)
	}
	remote := []ProxyState{{Pod: "gw-2", Namespace: "ns", Gateway: "gw", Connected: true, AckedVersion: "stale"}}
	s.RemoteProxies = func() []ProxyState { return remote }
	if ok, why := s.Programmed(gw, 1); ok || !strings.Contains(why, "waiting for 1") {
		t.Fatalf("stale remote ack: %v %q", ok, why)
	}
	remote[0].AckedVersion = c.Version
	if ok, why := s.Programmed(gw, 1); !ok {
		t.Fatalf("remote ack of the latest version not counted: %s", why)
	}
}
