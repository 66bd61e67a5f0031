package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/generated/clientset/versioned"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/publish"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/explain"
)

// TestExplainSubresourceMatchesTraffic runs the operator with its views API behind a real
// kube-apiserver and a real proxy runtime fed over configstream. Route apps/canary matches
// PathPrefix /api with header X-Env: canary and has two AgentgatewayPolicies (JWT
// authentication with an inline JWKS; a transformation setting X-User from jwt.sub); route
// apps/stable takes everything else. For each request, the test asks
// effectiveconfigs/web/explain through the kube-apiserver, sends the same request through
// the proxy, and checks that they agree: the backend reached, the 401 without a token, the
// header the transformation set.
func TestExplainSubresourceMatchesTraffic(t *testing.T) {
	root := envtest.RepoRoot()
	env := envtest.StartWith(t, envtest.Options{
		Aggregation: true,
		CRDPaths:    []string{filepath.Join(root, "manifests", "crds"), filepath.Join(root, "manifests", "gateway-api")},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	views := startViews(t, ctx, env)
	xdsAddr := startOperator(t, ctx, cancel, env, func(c *Config) {
		c.Hooks.AggregatedAPI = func(_ manager.Manager, p Pipeline, _ string) (func(*translate.Result), error) {
			publishProxies := ProxyViews(views, "replica-0", p)
			p.ConfigServer.AddChangeListener(func(types.NamespacedName) { publishProxies() })
			return func(res *translate.Result) {
				views.PublishEffectiveConfigs(publish.EffectiveConfigs(res))
				views.PublishConfigs(publish.Configs(res))
				publishProxies()
			}, nil
		}
	})
	c := newClient(t, env)
	const ns = "apps"
	createWebGateway(t, ctx, c, ns)

	s := newExplainSigner(t)
	const issuer = "https://issuer.example.com"
	backends := map[string]int{}
	for _, name := range []string{"canary", "stable"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			w.Header().Set("X-Got-User", r.Header.Get("X-User"))
		}))
		t.Cleanup(srv.Close)
		port, err := strconv.Atoi(srv.URL[strings.LastIndex(srv.URL, ":")+1:])
		must(t, err)
		backends[name] = port
		must(t, c.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1",
				Ports: []corev1.ServicePort{{Name: "http", Port: int32(port), Protocol: corev1.ProtocolTCP}},
			},
		}))
	}
	ref := func(name string) []gwv1.HTTPBackendRef {
		return []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
			Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(backends[name]))}}}}
	}
	must(t, c.Create(ctx, &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: ns},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Rules: []gwv1.HTTPRouteRule{{
				Matches: []gwv1.HTTPRouteMatch{{
					Path:    &gwv1.HTTPPathMatch{Value: ptr.To("/api")},
					Headers: []gwv1.HTTPHeaderMatch{{Name: "X-Env", Value: "canary"}},
				}},
				BackendRefs: ref("canary"),
			}},
		},
	}))
	must(t, c.Create(ctx, &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "stable", Namespace: ns},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: ref("stable")}},
		},
	}))
	target := []agwv1a1.PolicyTargetReference{{Group: gwv1.GroupName, Kind: "HTTPRoute", Name: "canary"}}
	must(t, c.Create(ctx, &agwv1a1.AgentgatewayPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "jwt", Namespace: ns},
		Spec: agwv1a1.AgentgatewayPolicySpec{TargetRefs: target, Traffic: &agwv1a1.TrafficPolicy{
			JWTAuthentication: &agwv1a1.JWTAuthentication{Providers: []agwv1a1.JWTProvider{{
				Name: "demo", Issuer: issuer, JWKS: agwv1a1.JWKS{Inline: ptr.To(s.jwks())},
			}}},
		}},
	}))
	must(t, c.Create(ctx, &agwv1a1.AgentgatewayPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "user-header", Namespace: ns},
		Spec: agwv1a1.AgentgatewayPolicySpec{TargetRefs: target, Traffic: &agwv1a1.TrafficPolicy{
			Transformation: &agwv1a1.Transformation{Request: &agwv1a1.TransformationRules{
				Set: []agwv1a1.HeaderTransformation{{Name: "X-User", Value: "jwt.sub"}},
			}},
		}},
	}))

	px := startTestProxy(t, ctx, c, xdsAddr, ns, "web-explain", nil)
	// The proxy runs the config explain reads, with both policies on the canary rule.
	waitFor(t, "the proxy runs the explained config with both policies", func() (bool, string) {
		want := views.Config(ns, "web")
		px.mu.Lock()
		defer px.mu.Unlock()
		switch {
		case want == nil || px.applied == nil:
			return false, "no config yet"
		case px.applied.Version != want.Version:
			return false, "proxy at " + px.applied.Version + ", views at " + want.Version
		}
		for _, b := range want.Binds {
			for _, l := range b.Listeners {
				for _, r := range l.HTTPRoutes {
					if r.Name == "canary" && r.Rules[0].Traffic != nil && r.Rules[0].Traffic.JWTAuthentication != nil && r.Rules[0].Traffic.Transformation != nil {
						return true, ""
					}
				}
			}
		}
		return false, "config " + want.Version + " has no canary rule with both policies"
	})

	vc, err := versioned.NewForConfig(env.Config)
	must(t, err)
	tok := s.sign(t, map[string]any{"iss": issuer, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	proxyURL := fmt.Sprintf("http://127.0.0.1:%d", px.port(t, 8080))
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
		// backend that answers, or "" for the proxy itself; status the client gets.
		backend string
		status  int
		user    string
	}{
		{"header match with a token", "/api/items", map[string]string{"X-Env": "canary", "Authorization": "Bearer " + tok}, "canary", 200, "alice"},
		{"header match without a token", "/api/items", map[string]string{"X-Env": "canary"}, "", http.StatusUnauthorized, ""},
		{"other header value", "/api/items", map[string]string{"X-Env": "prod"}, "stable", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := vc.ViewsV1alpha1().RESTClient().Get().
				AbsPath("/apis", viewsv1a1.GroupName, "v1alpha1", "namespaces", ns, "effectiveconfigs", "web", "explain").
				Param("host", "www.example.com").Param("path", tc.path).Param("port", "8080")
			for k, v := range tc.headers {
				req = req.Param("header", k+":"+v)
			}
			raw, err := req.DoRaw(ctx)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			var ex explain.Explanation
			must(t, json.Unmarshal(raw, &ex))

			hr, err := http.NewRequest(http.MethodGet, proxyURL+tc.path, nil)
			must(t, err)
			hr.Host = "www.example.com"
			for k, v := range tc.headers {
				hr.Header.Set(k, v)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(hr)
			must(t, err)
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			must(t, err)

			// What the request did is what the test expects...
			if got := resp.Header.Get("X-Backend"); got != tc.backend || resp.StatusCode != tc.status {
				t.Fatalf("the request got %d from backend %q, want %d from %q", resp.StatusCode, got, tc.status, tc.backend)
			}
			// ...and what explain says.
			if tc.backend == "" {
				if ex.Outcome.Action != "reject" || ex.Outcome.Status != resp.StatusCode || ex.Route == nil || ex.Route.Name != "canary" {
					t.Errorf("explain says %+v (route %+v); the proxy answered %d", ex.Outcome, ex.Route, resp.StatusCode)
				}
				if ex.Outcome.By != "policy jwtAuthentication" {
					t.Errorf("explain says %s answered; want the JWT policy", ex.Outcome.By)
				}
				return
			}
			if ex.Outcome.Action != "proxy" || ex.Route == nil || ex.Route.Name != tc.backend || len(ex.Backends) != 1 || !strings.Contains(ex.Backends[0].Backend, tc.backend) {
				t.Fatalf("explain says %+v route %+v backends %+v; the request reached %s", ex.Outcome, ex.Route, ex.Backends, tc.backend)
			}
			user := ""
			for _, h := range ex.Upstream.Headers {
				if h.Name == "X-User" {
					user = strings.Join(h.Value, ",")
				}
			}
			if got := resp.Header.Get("X-Got-User"); got != tc.user || user != got {
				t.Errorf("backend got X-User %q, explain says %q, want %q", got, user, tc.user)
			}
			if tc.backend == "canary" {
				var ps []string
				for _, p := range ex.Policies {
					ps = append(ps, p.Name+"="+p.Verdict)
				}
				if got := strings.Join(ps, " "); got != "jwtAuthentication=pass transformation=pass" {
					t.Errorf("policies %s, want the JWT check and the transformation passing", got)
				}
			}
		})
	}

	// kubectl get --raw, as a user would ask: the same answer as the REST client's.
	t.Run("kubectl get --raw", func(t *testing.T) {
		path := "/apis/views.agentgateway.dev/v1alpha1/namespaces/" + ns + "/effectiveconfigs/web/explain?host=www.example.com&path=/api/items&header=X-Env:canary&port=8080"
		out, err := kubectl(t, env, "get", "--raw", path)
		if err != nil {
			t.Fatalf("kubectl get --raw: %v\n%s", err, out)
		}
		var ex explain.Explanation
		if err := json.Unmarshal([]byte(out), &ex); err != nil {
			t.Fatalf("kubectl output %q: %v", out, err)
		}
		if ex.Outcome.Status != http.StatusUnauthorized || ex.Route == nil || ex.Route.Name != "canary" || ex.Candidates[0].Result != "chosen" {
			t.Errorf("kubectl says %+v route %+v candidates %+v, want 401 on route canary", ex.Outcome, ex.Route, ex.Candidates)
		}
	})
}

// explainSigner issues ES256 tokens for an inline JWKS.
type explainSigner struct {
	key *ecdsa.PrivateKey
	pub []byte // 0x04 || X || Y
}

func newExplainSigner(t *testing.T) *explainSigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	pub, err := k.PublicKey.Bytes()
	must(t, err)
	return &explainSigner{key: k, pub: pub}
}

func (s *explainSigner) jwks() string {
	b := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","x":%q,"y":%q}]}`, b(s.pub[1:33]), b(s.pub[33:]))
}

func (s *explainSigner) sign(t *testing.T, claims map[string]any) string {
	enc := func(v any) string {
		js, err := json.Marshal(v)
		must(t, err)
		return base64.RawURLEncoding.EncodeToString(js)
	}
	signed := enc(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"}) + "." + enc(claims)
	d := sha256.Sum256([]byte(signed))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	must(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}
