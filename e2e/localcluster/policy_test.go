package localcluster_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
)

// policyNS holds everything TestPolicyEndToEnd creates; deleting it cleans up.
const policyNS = "policy-e2e"

// TestPolicyEndToEnd attaches AgentgatewayPolicies to a Gateway of its own and checks each
// feature on real traffic: CEL transformations, HTTP and gRPC external authorization, JWT
// with a remote JWKS, API keys and basic auth from Secrets, CEL authorization, local rate
// limits, CORS, CSRF, direct responses, timeouts, retries, session persistence and backend
// mTLS, then the merge of a Gateway-level and a route-level policy and what `kubectl get
// effectiveconfig` shows. Test servers (ext-auth, JWKS, a slow and flaky backend, an mTLS
// backend) run in this process on the cluster bridge address.
//
// Every feature has its own HTTPRoute (hostname <feature>.policy.test) and policy, applied
// at once; the test waits until the proxy acknowledged a config holding all of them, then
// runs the features in parallel.
func TestPolicyEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	start := time.Now()
	k := kctl{c.Kubeconfig}
	installAgentgateway(t, k)
	resetPolicyNamespace(t, k)
	t.Cleanup(func() {
		// AGW_KEEP_POLICY_E2E=1 keeps the namespace to look at after a failure.
		if os.Getenv("AGW_KEEP_POLICY_E2E") == "" {
			if out, err := k.run("delete", "namespace", policyNS, "--wait=false"); err != nil {
				t.Errorf("deleting namespace %s: %v: %s", policyNS, err, out)
			}
		}
	})

	backend := newHostBackend()
	extAuth := newExtAuthHTTPServer()
	issuer := newJWTIssuer(t, "https://issuer.policy.test")
	serverCA, clientCA, rogueCA := newTestCA(t, "policy-e2e server CA"), newTestCA(t, "policy-e2e client CA"), newTestCA(t, "policy-e2e rogue CA")
	srvCert, srvKey := serverCA.issue(t, "mtls backend", []string{"mtls.policy-e2e.test"}, false)
	cliCert, cliKey := clientCA.issue(t, "agentgateway-proxy-client", nil, true)
	grpcAuth := newExtAuthGRPCServer()
	ports := policyPorts{
		backend: serveOnBridge(t, backend, nil),
		extAuth: serveOnBridge(t, extAuth, nil),
		jwks:    serveOnBridge(t, issuer, nil),
		mtls:    serveMTLSBackend(t, srvCert, srvKey, clientCA),
		grpc:    grpcAuth.serve(t),
	}
	k.applyYAML(t, policyManifest(t, ports, serverCA.pem, rogueCA.pem, cliCert, cliKey))

	k.must(t, "-n", policyNS, "wait", "--for=condition=Programmed", "gateway/policy", "--timeout=600s")
	addr := strings.TrimSpace(k.must(t, "-n", policyNS, "get", "gateway", "policy", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	// Programmed means the address is assigned and the proxy runs the config, not that
	// kube-proxy routes the address yet.
	routeCtx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := clustertest.WaitRoutes(routeCtx, net.JoinHostPort(addr, "80")); err != nil {
		t.Fatal(err)
	}
	waitPolicyConfigLive(t, k)
	t.Logf("Gateway %s serves every policy after %s", addr, time.Since(start).Round(time.Second))
	gw := newGWClient(addr)

	t.Run("features", func(t *testing.T) {
		t.Run("policies accepted", func(t *testing.T) { t.Parallel(); testPoliciesAccepted(t, k) })
		t.Run("transformation", func(t *testing.T) { t.Parallel(); testTransformation(t, gw) })
		t.Run("extAuth HTTP", func(t *testing.T) { t.Parallel(); testExtAuthHTTP(t, gw, extAuth) })
		t.Run("extAuth gRPC", func(t *testing.T) { t.Parallel(); testExtAuthGRPC(t, gw, grpcAuth) })
		t.Run("jwtAuthentication", func(t *testing.T) { t.Parallel(); testJWT(t, gw, issuer) })
		t.Run("apiKeyAuthentication", func(t *testing.T) { t.Parallel(); testAPIKey(t, gw) })
		t.Run("basicAuthentication", func(t *testing.T) { t.Parallel(); testBasicAuth(t, gw) })
		t.Run("authorization", func(t *testing.T) { t.Parallel(); testAuthorization(t, gw) })
		t.Run("rateLimit local", func(t *testing.T) { t.Parallel(); testRateLimit(t, gw) })
		t.Run("cors", func(t *testing.T) { t.Parallel(); testCORS(t, gw) })
		t.Run("csrf", func(t *testing.T) { t.Parallel(); testCSRF(t, gw) })
		t.Run("directResponse", func(t *testing.T) { t.Parallel(); testDirectResponse(t, gw) })
		t.Run("timeouts", func(t *testing.T) { t.Parallel(); testTimeouts(t, gw) })
		t.Run("retry", func(t *testing.T) { t.Parallel(); testRetry(t, gw, backend) })
		t.Run("retry budget", func(t *testing.T) { t.Parallel(); testRetryBudget(t, gw, backend) })
		t.Run("Gateway API ExternalAuth filter", func(t *testing.T) { t.Parallel(); testGatewayAPIExternalAuth(t, gw, extAuth) })
		t.Run("sessionPersistence", func(t *testing.T) { t.Parallel(); testSessionPersistence(t, gw) })
		t.Run("backend tls", func(t *testing.T) { t.Parallel(); testBackendTLS(t, gw) })
		t.Run("merge precedence", func(t *testing.T) { t.Parallel(); testMergePrecedence(t, gw) })
		t.Run("effectiveconfig", func(t *testing.T) { t.Parallel(); testEffectiveConfig(t, k) })
	})
	t.Logf("TestPolicyEndToEnd took %s", time.Since(start).Round(time.Second))
}

// resetPolicyNamespace removes what an interrupted earlier run left behind.
func resetPolicyNamespace(t *testing.T, k kctl) {
	t.Helper()
	if _, err := k.run("get", "namespace", policyNS); err != nil {
		return
	}
	// It may be terminating already (cleanup does not wait), or gone since the get.
	if out, err := k.run("delete", "namespace", policyNS, "--wait=false"); err != nil && !strings.Contains(out, "NotFound") && !strings.Contains(out, "not found") {
		t.Fatalf("deleting namespace %s: %v: %s", policyNS, err, out)
	}
	if out, err := k.run("wait", "--for=delete", "namespace/"+policyNS, "--timeout=120s"); err != nil && !strings.Contains(out, "NotFound") && !strings.Contains(out, "not found") {
		t.Fatalf("namespace %s left by an earlier run is not going away: %v: %s", policyNS, err, out)
	}
}

type policyPorts struct {
	backend, extAuth, jwks, mtls, grpc int
}

// policyManifest is every object of the test: the Secrets and ConfigMap the policies
// read, the test servers as Services or AgentgatewayBackends, an echo Deployment with two
// replicas, a Gateway, one route per feature and the policies. Everything but the Secrets
// and ConfigMap (JSON documents, which keep PEM blocks intact) is rendered from the
// templates in testdata/policy.
func policyManifest(t *testing.T, p policyPorts, serverCA, rogueCA, cliCert, cliKey string) string {
	t.Helper()
	aliceHash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bobSum := sha1.Sum([]byte("bob-password"))
	htpasswd := "alice:" + string(aliceHash) + "\nbob:{SHA}" + base64.StdEncoding.EncodeToString(bobSum[:]) + "\n"
	docs := []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + policyNS + "}\n",
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]string{"name": "api-keys", "namespace": policyNS},
			"stringData": map[string]string{"alice": "key-alice-123", "bob": "key-bob-456"}}),
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]string{"name": "htpasswd", "namespace": policyNS},
			"stringData": map[string]string{".htpasswd": htpasswd}}),
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": map[string]string{"name": "client-cert", "namespace": policyNS},
			"stringData": map[string]string{"tls.crt": cliCert, "tls.key": cliKey}}),
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]string{"name": "server-ca", "namespace": policyNS},
			"data": map[string]string{"ca.crt": serverCA}}),
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]string{"name": "rogue-ca", "namespace": policyNS},
			"stringData": map[string]string{"ca.crt": rogueCA}}),
	}
	const echo = "{name: echo, port: 8080}"
	const host = "{name: hostbackend, port: 8080}"
	agwBackend := func(name string) string {
		return "{group: agentgateway.dev, kind: AgentgatewayBackend, name: " + name + "}"
	}
	data := policyManifestData{
		Namespace: policyNS,
		BridgeIP:  bridgeIP,
		HostServices: []hostService{
			{Name: "hostbackend", Port: p.backend},
			{Name: "extauth-http", Port: p.extAuth},
			// gRPC needs HTTP/2 without TLS.
			{Name: "extauth-grpc", Port: p.grpc, AppProtocol: "kubernetes.io/h2c"},
		},
		MTLSBackends: []string{"mtls-good", "mtls-sni", "mtls-nocert", "mtls-badsan", "mtls-badca"},
		MTLSPort:     p.mtls,
		JWKSPort:     p.jwks,
		Routes: []policyRoute{
			{"transform", host}, {"extauth", echo}, {"extauth-signin", echo}, {"extauth-grpc", echo}, {"jwt", echo},
			{"apikey", echo}, {"basic", echo}, {"ratelimit", echo}, {"rl-a", echo}, {"rl-b", echo}, {"cors", echo},
			{"csrf", echo}, {"direct", echo}, {"timeout", host}, {"session", echo}, {"merge", echo},
			{"mtls-good", agwBackend("mtls-good")}, {"mtls-sni", agwBackend("mtls-sni")}, {"mtls-nocert", agwBackend("mtls-nocert")},
			{"mtls-badsan", agwBackend("mtls-badsan")}, {"mtls-badca", agwBackend("mtls-badca")},
		},
	}
	docs = append(docs, renderPolicyTemplates(t, data)...)
	return strings.Join(docs, "---\n")
}

// TestPolicyManifestRenders needs no cluster: the templates of testdata/policy render, and
// every document of the manifest is YAML naming a distinct object.
func TestPolicyManifestRenders(t *testing.T) {
	manifest := policyManifest(t, policyPorts{backend: 1001, extAuth: 1002, jwks: 1003, mtls: 1004, grpc: 1005},
		"server CA PEM\n", "rogue CA PEM\n", "client cert PEM\n", "client key PEM\n")
	seen := map[string]bool{}
	for i, doc := range strings.Split(manifest, "\n---\n") {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		id := obj.APIVersion + " " + obj.Kind + " " + obj.Metadata.Namespace + "/" + obj.Metadata.Name
		if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
			t.Errorf("document %d lacks apiVersion, kind or name: %s", i, id)
		}
		if obj.Kind != "Namespace" && obj.Metadata.Namespace != policyNS {
			t.Errorf("document %d (%s) is not in namespace %s", i, id, policyNS)
		}
		if seen[id] {
			t.Errorf("document %d: %s twice", i, id)
		}
		seen[id] = true
	}
	if len(seen) != 70 {
		t.Errorf("%d objects, want 70", len(seen))
	}
	for _, want := range []string{"http://" + bridgeIP + ":1003/jwks.json", "static: {host: " + bridgeIP + ", port: 1004}",
		"ports: [{name: http, port: 1005, protocol: TCP}]", "protocol: TCP, appProtocol: kubernetes.io/h2c}]"} {
		if !strings.Contains(manifest, want) {
			t.Errorf("the manifest lacks %q", want)
		}
	}
}

// policyTemplates are the files of testdata/policy in the order their documents are
// applied: each renders documents separated by "---" lines.
var policyTemplates = []string{"host-services.yaml.tmpl", "gateway.yaml.tmpl", "routes.yaml.tmpl", "policies.yaml.tmpl"}

// policyManifestData fills the templates of testdata/policy.
type policyManifestData struct {
	Namespace    string
	BridgeIP     string
	HostServices []hostService
	MTLSBackends []string // AgentgatewayBackends to the mTLS test server, one per TLS case
	MTLSPort     int
	JWKSPort     int
	Routes       []policyRoute // the routes with one rule, to Backend
}

// hostService is a test server on the host, exposed as a selectorless Service.
type hostService struct {
	Name        string
	Port        int
	AppProtocol string // of the Service port; empty for none
}

// policyRoute is an HTTPRoute with hostname <Name>.policy.test and one rule to Backend
// (a backendRef in YAML flow style).
type policyRoute struct {
	Name, Backend string
}

// renderPolicyTemplates renders each of policyTemplates with data. A key or field the data
// lacks is an error, not an empty string.
func renderPolicyTemplates(t *testing.T, data policyManifestData) []string {
	t.Helper()
	var out []string
	for _, name := range policyTemplates {
		tmpl, err := template.New(name).Option("missingkey=error").ParseFiles(filepath.Join("testdata", "policy", name))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, data); err != nil {
			t.Fatalf("testdata/policy/%s: %v", name, err)
		}
		out = append(out, b.String())
	}
	return out
}

// jsonDoc renders an object as a JSON document (valid YAML), which keeps PEM blocks intact.
func jsonDoc(t *testing.T, obj any) string {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// wantPolicyFields lists, per route, the merged fields effectiveconfig must show and
// their origin ("<field> <- <source>").
var wantPolicyFields = map[string][]string{
	"transform":      {"traffic.transformation <- policy-e2e/transform (Route)", "traffic.headerModifiers <- policy-e2e/gw-defaults (Gateway)"},
	"extauth":        {"traffic.extAuth <- policy-e2e/extauth (Route)"},
	"extauth-signin": {"traffic.extAuth <- policy-e2e/extauth-signin (Route)"},
	"extauth-grpc":   {"traffic.extAuth <- policy-e2e/extauth-grpc (Route)"},
	"jwt":            {"traffic.jwtAuthentication <- policy-e2e/jwt (Route)", "traffic.authorization <- policy-e2e/jwt (Route)"},
	"apikey":         {"traffic.apiKeyAuthentication <- policy-e2e/apikey (Route)", "traffic.transformation <- policy-e2e/apikey (Route)"},
	"basic":          {"traffic.basicAuthentication <- policy-e2e/basic (Route)"},
	"authz": {"traffic.authorization <- policy-e2e/authz-allow (Rule)", "traffic.authorization <- policy-e2e/authz-deny (Rule)",
		"traffic.authorization <- policy-e2e/authz-require (Rule)"},
	"ratelimit": {"traffic.rateLimit <- policy-e2e/ratelimit (Route)"},
	"rl-a":      {"traffic.rateLimit <- policy-e2e/ratelimit-shared (Route)"},
	"rl-b":      {"traffic.rateLimit <- policy-e2e/ratelimit-shared (Route)"},
	"cors":      {"traffic.cors <- policy-e2e/cors (Route)"},
	"csrf":      {"traffic.csrf <- policy-e2e/csrf (Route)"},
	"direct":    {"traffic.directResponse <- policy-e2e/direct (Route)"},
	"timeout":   {"traffic.timeouts <- policy-e2e/timeout (Route)"},
	"retry":     {"traffic.retry <- policy-e2e/retry (Rule)", "traffic.retry <- policy-e2e/retry-budget (Rule)"},
	"session":   {"traffic.sessionPersistence <- policy-e2e/session (Route)", "traffic.headerModifiers <- policy-e2e/gw-defaults (Gateway)", "traffic.transformation <- policy-e2e/gw-defaults (Gateway)"},
	"merge":     {"traffic.headerModifiers <- policy-e2e/merge-route (Route)", "traffic.transformation <- policy-e2e/gw-defaults (Gateway)"},
}

func getEffectiveConfig(k kctl) (*viewsv1a1.EffectiveConfig, error) {
	out, err := k.run("-n", policyNS, "get", "effectiveconfig", "policy", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("kubectl get effectiveconfig: %v: %s", err, out)
	}
	ec := &viewsv1a1.EffectiveConfig{}
	if err := json.Unmarshal([]byte(out), ec); err != nil {
		return nil, fmt.Errorf("decode effectiveconfig: %v", err)
	}
	return ec, nil
}

// policyFieldsByRoute maps route name to "<field> <- <source>" of every rule.
func policyFieldsByRoute(ec *viewsv1a1.EffectiveConfig) map[string][]string {
	out := map[string][]string{}
	for _, l := range ec.Listeners {
		for _, r := range l.Routes {
			if r.Namespace != policyNS {
				continue
			}
			for _, p := range r.Policies {
				out[r.Name] = append(out[r.Name], p.Field+" <- "+p.Source)
			}
		}
	}
	return out
}

// waitPolicyConfigLive waits until effectiveconfig shows every policy field on its route,
// both echo endpoints, and all proxies acknowledged that version: from then on the proxy
// enforces everything, and tests need not poll (rate limits must not spend tokens on polls).
func waitPolicyConfigLive(t *testing.T, k kctl) {
	t.Helper()
	waitUntil(t, "effectiveconfig shows every policy and the proxy runs it", 120*time.Second, time.Second, func() error {
		ec, err := getEffectiveConfig(k)
		if err != nil {
			return err
		}
		got := policyFieldsByRoute(ec)
		for route, fields := range wantPolicyFields {
			for _, f := range fields {
				field, _, _ := strings.Cut(f, " <- ")
				if !slices.ContainsFunc(got[route], func(s string) bool { return strings.HasPrefix(s, field+" <- ") }) {
					return fmt.Errorf("route %s lacks %s (has %v)", route, field, got[route])
				}
			}
		}
		echoEndpoints := int32(-1)
		for _, l := range ec.Listeners {
			for _, r := range l.Routes {
				if r.Namespace == policyNS && r.Name == "session" && len(r.Backends) == 1 {
					echoEndpoints = r.Backends[0].Endpoints
				}
			}
		}
		if echoEndpoints != 2 {
			return fmt.Errorf("echo backend has %d endpoints, want 2", echoEndpoints)
		}
		if ec.Proxies.Total < 1 || ec.Proxies.Synced != ec.Proxies.Total {
			return fmt.Errorf("version %s: %d of %d proxies synced", ec.Version, ec.Proxies.Synced, ec.Proxies.Total)
		}
		return nil
	})
}

func testPoliciesAccepted(t *testing.T, k kctl) {
	var list struct {
		Items []struct {
			Metadata struct{ Name string }
			Status   struct {
				Ancestors []struct {
					AncestorRef struct{ Name string } `json:"ancestorRef"`
					Conditions  []struct{ Type, Status, Reason, Message string }
				}
			}
		}
	}
	// Status is written asynchronously by the leader, after the proxy acked.
	waitUntil(t, "every policy is Accepted", 30*time.Second, time.Second, func() error {
		out, err := k.run("-n", policyNS, "get", "agentgatewaypolicies", "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		var bad []string
		for _, p := range list.Items {
			ok := false
			for _, a := range p.Status.Ancestors {
				for _, c := range a.Conditions {
					if c.Type == "Accepted" {
						ok = c.Status == "True"
						if !ok {
							bad = append(bad, fmt.Sprintf("%s: Accepted=%s %s: %s", p.Metadata.Name, c.Status, c.Reason, c.Message))
						}
					}
				}
			}
			if !ok && len(p.Status.Ancestors) == 0 {
				bad = append(bad, p.Metadata.Name+": no ancestor status")
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "\n"))
		}
		return nil
	})
}

func testTransformation(t *testing.T, gw *gwClient) {
	const h = "transform.policy.test"
	t.Run("request headers and body", func(t *testing.T) {
		resp := gw.expect(t, 200, req{method: "POST", host: h, path: "/tx", body: "hello",
			header: map[string]string{"x-remove-me": "yes", "x-tx-add": "client"}})
		e := decodeEchoed(t, resp)
		if got := e.header("x-tx-method"); !slices.Equal(got, []string{"POST /tx"}) {
			t.Errorf("set x-tx-method: backend got %q, want [POST /tx]", got)
		}
		if got := e.header("x-tx-add"); !slices.Equal(got, []string{"client", "from-policy"}) {
			t.Errorf("add x-tx-add: backend got %q, want [client from-policy]", got)
		}
		if got := e.header("x-remove-me"); got != nil {
			t.Errorf("remove x-remove-me: backend still got %q", got)
		}
		if e.Body != "wrapped(hello)" {
			t.Errorf("request body: backend got %q, want wrapped(hello)", e.Body)
		}
		// The response rules are conditional and this request does not ask for them.
		if resp.header.Get("x-resp-code") != "" || resp.header.Get("X-Backend-Secret") != "s3cr3t" {
			t.Errorf("response rules applied although their condition is false: %v", resp.header)
		}
	})
	t.Run("conditional response headers and body", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: h, path: "/rx", header: map[string]string{"x-transform-response": "on"}})
		if got := resp.header.Get("x-resp-code"); got != "200" {
			t.Errorf("set x-resp-code = %q, want 200", got)
		}
		if got := resp.header.Values("x-resp-add"); !slices.Equal(got, []string{"added"}) {
			t.Errorf("add x-resp-add = %q, want [added]", got)
		}
		if got := resp.header.Get("X-Backend-Secret"); got != "" {
			t.Errorf("remove x-backend-secret: client still got %q", got)
		}
		if string(resp.body) != "code=200 path=/rx" {
			t.Errorf("response body %q, want %q", resp.body, "code=200 path=/rx")
		}
	})
}

func testExtAuthHTTP(t *testing.T, gw *gwClient, s *extAuthHTTPServer) {
	const h = "extauth.policy.test"
	t.Run("allow injects the allowed header upstream", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: h, path: "/private?a=1", header: map[string]string{"x-ext-auth": "allow", "x-test-id": "allow-1"}})
		e := decodeEchoed(t, resp)
		if got := e.header("x-auth-user"); !slices.Equal(got, []string{"alice"}) {
			t.Errorf("backend got X-Auth-User %q, want [alice]", got)
		}
		if got := e.header("x-not-forwarded"); got != nil {
			t.Errorf("a header not in allowedUpstreamHeaders reached the backend: %q", got)
		}
		if got := s.checkedPath("allow-1"); got != "/check/private?a=1" {
			t.Errorf("ext-auth was asked about %q, want /check/private?a=1 (pathPrefix + path)", got)
		}
	})
	t.Run("deny relays the service's status, headers and body", func(t *testing.T) {
		resp := gw.expect(t, 403, req{host: h, path: "/private", header: map[string]string{"x-ext-auth": "deny"}})
		if string(resp.body) != "denied by ext-auth" || resp.header.Get("X-Ext-Auth-Reason") != "blocked-by-test" {
			t.Errorf("denial not relayed: %s", resp)
		}
	})
	t.Run("unauthenticated", func(t *testing.T) {
		gw.expect(t, 401, req{host: h, path: "/private"})
	})
	const si = "extauth-signin.policy.test"
	t.Run("browser is sent to sign in", func(t *testing.T) {
		resp := gw.expect(t, 302, req{host: si, path: "/private?a=1", header: map[string]string{"Accept": "text/html,application/xhtml+xml"}})
		want := "https://login.policy.test/signin?rd=" + url.QueryEscape("http://"+si+"/private?a=1")
		if got := resp.header.Get("Location"); got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
	})
	t.Run("signed-in browser passes", func(t *testing.T) {
		gw.expect(t, 200, req{host: si, path: "/private", header: map[string]string{"Accept": "text/html", "x-ext-auth": "allow"}})
	})
	t.Run("API client without credentials gets 401, not a sign-in page", func(t *testing.T) {
		// The API (ExtAuthHTTP.SignInRedirectURL) redirects browser requests only.
		gw.expect(t, 401, req{host: si, path: "/private", header: map[string]string{"Accept": "application/json"}})
	})
}

func testExtAuthGRPC(t *testing.T, gw *gwClient, s *extAuthGRPCServer) {
	const h = "extauth-grpc.policy.test"
	t.Run("OK adds and removes request headers and adds response headers", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: h, path: "/private?a=1", header: map[string]string{"x-ext-auth": "allow", "x-test-id": "grpc-allow", "x-drop-me": "1"}})
		e := decodeEchoed(t, resp)
		if got := e.header("x-auth-user"); !slices.Equal(got, []string{"grpc-alice"}) {
			t.Errorf("backend got X-Auth-User %q, want [grpc-alice]", got)
		}
		if got := e.header("x-drop-me"); got != nil {
			t.Errorf("headers_to_remove: backend still got x-drop-me %q", got)
		}
		if got := resp.header.Get("x-ext-authz"); got != "checked" {
			t.Errorf("response_headers_to_add: client got x-ext-authz %q", got)
		}
		cr := s.check("grpc-allow")
		if cr == nil {
			t.Fatal("the Authorization service got no check for the request")
		}
		hr := cr.GetAttributes().GetRequest().GetHttp()
		if hr.GetMethod() != "GET" || !strings.HasPrefix(hr.GetPath(), "/private") || hr.GetHost() != h {
			t.Errorf("check request describes %s %s%s", hr.GetMethod(), hr.GetHost(), hr.GetPath())
		}
		if got := cr.GetAttributes().GetContextExtensions()["route"]; got != "extauth-grpc" {
			t.Errorf("context_extensions route = %q, want extauth-grpc", got)
		}
	})
	t.Run("denied_response is relayed", func(t *testing.T) {
		resp := gw.expect(t, 403, req{host: h, header: map[string]string{"x-ext-auth": "deny"}})
		if string(resp.body) != "denied by grpc ext-auth" || resp.header.Get("x-ext-auth-reason") != "grpc-blocked" {
			t.Errorf("denial not relayed: %s", resp)
		}
	})
	t.Run("unauthenticated", func(t *testing.T) {
		gw.expect(t, 401, req{host: h})
	})
}

func testJWT(t *testing.T, gw *gwClient, iss *jwtIssuer) {
	const h = "jwt.policy.test"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	admin := iss.token(t, map[string]any{"sub": "alice", "aud": "policy-e2e", "role": "admin"})
	t.Run("no token", func(t *testing.T) {
		resp := gw.expect(t, 401, req{host: h})
		if !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %v", resp.header)
		}
	})
	t.Run("valid token, claims reach authorization and headers", func(t *testing.T) {
		e := decodeEchoed(t, gw.expect(t, 200, req{host: h, header: bearer(admin)}))
		if got := e.header("x-jwt-sub"); !slices.Equal(got, []string{"alice"}) {
			t.Errorf("claimsToHeaders: backend got x-jwt-sub %q, want [alice]", got)
		}
		if iss.fetches.Load() == 0 {
			t.Error("the JWKS was never fetched from its URL")
		}
	})
	t.Run("valid token, claim fails the authorization rule", func(t *testing.T) {
		gw.expect(t, 403, req{host: h, header: bearer(iss.token(t, map[string]any{"sub": "bob", "aud": "policy-e2e", "role": "viewer"}))})
	})
	t.Run("signed by an unknown key", func(t *testing.T) {
		gw.expect(t, 401, req{host: h, header: bearer(iss.forged(t, map[string]any{"sub": "mallory", "aud": "policy-e2e", "role": "admin"}))})
	})
	t.Run("expired", func(t *testing.T) {
		gw.expect(t, 401, req{host: h, header: bearer(iss.token(t, map[string]any{"sub": "alice", "aud": "policy-e2e", "role": "admin", "exp": time.Now().Add(-time.Hour).Unix()}))})
	})
	t.Run("wrong audience", func(t *testing.T) {
		gw.expect(t, 401, req{host: h, header: bearer(iss.token(t, map[string]any{"sub": "alice", "aud": "someone-else", "role": "admin"}))})
	})
	t.Run("wrong issuer", func(t *testing.T) {
		other := &jwtIssuer{issuer: "https://other.policy.test", key: iss.key, kid: iss.kid}
		gw.expect(t, 401, req{host: h, header: bearer(other.token(t, map[string]any{"sub": "alice", "aud": "policy-e2e", "role": "admin"}))})
	})
}

func testAPIKey(t *testing.T, gw *gwClient) {
	const h = "apikey.policy.test"
	gw.expect(t, 401, req{host: h})
	gw.expect(t, 401, req{host: h, header: map[string]string{"Authorization": "Bearer not-a-key"}})
	for _, c := range []struct{ auth, client string }{{"Bearer key-alice-123", "alice"}, {"key-bob-456", "bob"}} {
		e := decodeEchoed(t, gw.expect(t, 200, req{host: h, header: map[string]string{"Authorization": c.auth}}))
		if got := e.header("x-client"); !slices.Equal(got, []string{c.client}) {
			t.Errorf("apiKey.name in CEL: backend got x-client %q, want [%s]", got, c.client)
		}
	}
}

func testBasicAuth(t *testing.T, gw *gwClient) {
	const h = "basic.policy.test"
	basic := func(user, pass string) map[string]string {
		r, err := http.NewRequest("GET", "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.SetBasicAuth(user, pass)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	resp := gw.expect(t, 401, req{host: h})
	if got := resp.header.Get("WWW-Authenticate"); !strings.Contains(got, `Basic realm="policy-e2e"`) {
		t.Errorf("WWW-Authenticate %q, want the policy's realm", got)
	}
	gw.expect(t, 401, req{host: h, header: basic("alice", "wrong")})
	gw.expect(t, 401, req{host: h, header: basic("carol", "alice-password")})
	gw.expect(t, 200, req{host: h, header: basic("alice", "alice-password")}) // bcrypt
	gw.expect(t, 200, req{host: h, header: basic("bob", "bob-password")})     // {SHA}
}

func testAuthorization(t *testing.T, gw *gwClient) {
	const h = "authz.policy.test"
	for _, c := range []struct {
		name string
		code int
		r    req
	}{
		{"Allow: first rule matches", 200, req{path: "/allow", header: map[string]string{"x-role": "admin"}}},
		{"Allow: second rule matches", 200, req{path: "/allow?as=root"}},
		{"Allow: no rule matches", 403, req{path: "/allow", header: map[string]string{"x-role": "guest"}}},
		{"Deny: rule matches", 403, req{path: "/deny", header: map[string]string{"x-blocked": "true"}}},
		{"Deny: rule does not match", 200, req{path: "/deny"}},
		{"Require: every rule matches", 200, req{path: "/require", header: map[string]string{"x-tenant": "acme"}}},
		{"Require: one rule fails", 403, req{path: "/require"}},
		{"Require: the other rule fails", 403, req{method: "POST", path: "/require", header: map[string]string{"x-tenant": "acme"}}},
	} {
		c.r.host = h
		t.Run(c.name, func(t *testing.T) { gw.expect(t, c.code, c.r) })
	}
}

func testRateLimit(t *testing.T, gw *gwClient) {
	t.Run("keyed bucket empties, then 429 with Retry-After", func(t *testing.T) {
		const h = "ratelimit.policy.test"
		alice := map[string]string{"x-user": "alice"}
		for i := range 3 {
			if resp := gw.must(t, req{host: h, header: alice}); resp.code != 200 {
				t.Fatalf("request %d of a 3/minute bucket: %s", i+1, resp)
			}
		}
		resp := gw.expect(t, 429, req{host: h, header: alice})
		// 3 per minute: the bucket holds a token again in 20s; a client told to come back
		// sooner would only be refused again.
		if ra := resp.header.Get("Retry-After"); ra == "" {
			t.Errorf("429 without Retry-After: %v", resp.header)
		} else if n, err := strconv.Atoi(ra); err != nil || n < 15 || n > 20 {
			t.Errorf("Retry-After %q, want the ~20s until the bucket refills one token", ra)
		}
		// Another key has its own bucket.
		gw.expect(t, 200, req{host: h, header: map[string]string{"x-user": "bob"}})
	})
	t.Run("one bucket per route", func(t *testing.T) {
		// One policy targets two routes; without a key, each route has its own bucket (API:
		// "Without a key, one bucket per route").
		gw.expect(t, 200, req{host: "rl-a.policy.test"})
		gw.expect(t, 200, req{host: "rl-a.policy.test"})
		gw.expect(t, 429, req{host: "rl-a.policy.test"})
		gw.expect(t, 200, req{host: "rl-b.policy.test"})
	})
}

func testCORS(t *testing.T, gw *gwClient) {
	const h = "cors.policy.test"
	t.Run("preflight answered by the proxy", func(t *testing.T) {
		resp := gw.must(t, req{method: "OPTIONS", host: h, path: "/api", header: map[string]string{
			"Origin": "https://app.policy.test", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-custom"}})
		if resp.code != 200 && resp.code != 204 {
			t.Fatalf("preflight: %s", resp)
		}
		if len(resp.body) != 0 {
			t.Errorf("preflight reached the backend (body %q)", resp.body)
		}
		hd := resp.header
		if hd.Get("Access-Control-Allow-Origin") != "https://app.policy.test" {
			t.Errorf("Access-Control-Allow-Origin %q", hd.Get("Access-Control-Allow-Origin"))
		}
		if !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "PUT") {
			t.Errorf("Access-Control-Allow-Methods %q lacks PUT", hd.Get("Access-Control-Allow-Methods"))
		}
		if !strings.Contains(strings.ToLower(hd.Get("Access-Control-Allow-Headers")), "x-custom") {
			t.Errorf("Access-Control-Allow-Headers %q lacks x-custom", hd.Get("Access-Control-Allow-Headers"))
		}
		if hd.Get("Access-Control-Max-Age") != "600" {
			t.Errorf("Access-Control-Max-Age %q, want 600", hd.Get("Access-Control-Max-Age"))
		}
	})
	t.Run("preflight from another origin is not allowed", func(t *testing.T) {
		resp := gw.must(t, req{method: "OPTIONS", host: h, path: "/api", header: map[string]string{
			"Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"}})
		if got := resp.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin %q for a foreign origin", got)
		}
	})
	t.Run("simple request gets the allow-origin header", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: h, path: "/api", header: map[string]string{"Origin": "https://app.policy.test"}})
		if got := resp.header.Get("Access-Control-Allow-Origin"); got != "https://app.policy.test" {
			t.Errorf("Access-Control-Allow-Origin %q", got)
		}
	})
}

func testCSRF(t *testing.T, gw *gwClient) {
	const h = "csrf.policy.test"
	for _, c := range []struct {
		name, method, origin string
		code                 int
	}{
		{"cross-origin POST", "POST", "https://evil.test", 403},
		{"cross-origin DELETE", "DELETE", "https://evil.test", 403},
		{"same-origin POST", "POST", "http://csrf.policy.test", 200},
		{"additional origin POST", "POST", "https://trusted.policy.test", 200},
		{"cross-origin GET (safe method)", "GET", "https://evil.test", 200},
		{"POST without Origin (not a browser)", "POST", "", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			hd := map[string]string{}
			if c.origin != "" {
				hd["Origin"] = c.origin
			}
			gw.expect(t, c.code, req{method: c.method, host: h, header: hd, body: "x=1"})
		})
	}
}

func testDirectResponse(t *testing.T, gw *gwClient) {
	resp := gw.expect(t, 418, req{host: "direct.policy.test", path: "/anything"})
	if string(resp.body) != "short and stout" {
		t.Errorf("body %q, want the policy's", resp.body)
	}
}

func testTimeouts(t *testing.T, gw *gwClient) {
	const h = "timeout.policy.test"
	resp := gw.expect(t, 504, req{host: h, header: map[string]string{"x-delay": "5s"}})
	if resp.took > 4*time.Second {
		t.Errorf("504 after %s: the 1s request timeout did not cut the 5s backend short", resp.took)
	}
	gw.expect(t, 200, req{host: h, header: map[string]string{"x-delay": "100ms"}})
}

func testRetry(t *testing.T, gw *gwClient, b *hostBackend) {
	const h = "retry.policy.test"
	key := fmt.Sprintf("retried-%d", time.Now().UnixNano())
	e := decodeEchoed(t, gw.expect(t, 200, req{host: h, path: "/retried", header: map[string]string{"x-fail-once": key}}))
	if e.Attempt != 2 || b.attemptsOf(key) != 2 {
		t.Errorf("backend saw %d attempts (answered attempt %d), want 2", b.attemptsOf(key), e.Attempt)
	}
	// The policy targets only the rule named retried.
	key = fmt.Sprintf("plain-%d", time.Now().UnixNano())
	gw.expect(t, 503, req{host: h, path: "/plain", header: map[string]string{"x-fail-once": key}})
	if n := b.attemptsOf(key); n != 1 {
		t.Errorf("rule without the retry policy: backend saw %d attempts, want 1", n)
	}
}

// testRetryBudget: the rule's policy asks for retries within a budget of 0% (GEP-3388); the
// budget refuses the retry, so the backend sees one attempt and the client the 503.
func testRetryBudget(t *testing.T, gw *gwClient, b *hostBackend) {
	key := fmt.Sprintf("budgeted-%d", time.Now().UnixNano())
	resp := gw.expect(t, 503, req{host: "retry.policy.test", path: "/budgeted", header: map[string]string{"x-fail-once": key}})
	if n := b.attemptsOf(key); n != 1 {
		t.Errorf("budget of 0%%: backend saw %d attempts, want 1 (%s)", n, resp)
	}
	if !strings.Contains(string(resp.body), "retry budget exhausted") {
		t.Errorf("503 does not say the budget refused the retry: %s", resp)
	}
}

// testGatewayAPIExternalAuth: the HTTPRoute ExternalAuth filter (GEP-1494) asks the same HTTP
// ext-auth server; only a 200 allows, and only the allowed response header goes upstream.
func testGatewayAPIExternalAuth(t *testing.T, gw *gwClient, s *extAuthHTTPServer) {
	const h = "gwextauth.policy.test"
	id := fmt.Sprintf("gwext-%d", time.Now().UnixNano())
	e := decodeEchoed(t, gw.expect(t, 200, req{host: h, path: "/x?q=1", header: map[string]string{"x-ext-auth": "allow", "x-test-id": id}}))
	if got := e.header("x-auth-user"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("backend got X-Auth-User %q, want [alice]", got)
	}
	if got := e.header("x-not-forwarded"); got != nil {
		t.Errorf("a response header outside allowedResponseHeaders reached the backend: %q", got)
	}
	if got := s.checkedPath(id); !strings.HasPrefix(got, "/gwcheck") {
		t.Errorf("ext-auth was asked about %q, want a path under /gwcheck", got)
	}
	gw.expect(t, 403, req{host: h, header: map[string]string{"x-ext-auth": "deny"}})
	gw.expect(t, 401, req{host: h})
}

func testSessionPersistence(t *testing.T, gw *gwClient) {
	const h = "session.policy.test"
	pods := map[string]int{}
	var cookie *http.Cookie
	for range 20 {
		resp := gw.expect(t, 200, req{host: h})
		pods[decodeEchoed(t, resp).Pod]++
		if cookie == nil {
			for _, c := range (&http.Response{Header: resp.header}).Cookies() {
				if c.Name == "agw-session" {
					cookie = c
				}
			}
		}
	}
	if len(pods) != 2 {
		t.Fatalf("without a session, 20 requests reached %v; want both replicas", pods)
	}
	if cookie == nil {
		t.Fatal("no agw-session cookie set")
	}
	first := ""
	for i := range 10 {
		resp := gw.expect(t, 200, req{host: h, header: map[string]string{"Cookie": cookie.String()}})
		pod := decodeEchoed(t, resp).Pod
		if first == "" {
			first = pod
		}
		if pod != first {
			t.Fatalf("request %d with the session cookie reached %s, earlier ones %s", i+1, pod, first)
		}
	}
}

func testBackendTLS(t *testing.T, gw *gwClient) {
	t.Run("mTLS with CA and SAN verification", func(t *testing.T) {
		var info mtlsInfo
		resp := gw.expect(t, 200, req{host: "mtls-good.policy.test"})
		if err := json.Unmarshal(resp.body, &info); err != nil {
			t.Fatalf("%v: %s", err, resp)
		}
		if info.ClientCN != "agentgateway-proxy-client" {
			t.Errorf("backend saw client certificate %q, want the policy's", info.ClientCN)
		}
	})
	t.Run("SNI, verified as hostname", func(t *testing.T) {
		var info mtlsInfo
		resp := gw.expect(t, 200, req{host: "mtls-sni.policy.test"})
		if err := json.Unmarshal(resp.body, &info); err != nil {
			t.Fatalf("%v: %s", err, resp)
		}
		if info.ServerName != "mtls.policy-e2e.test" {
			t.Errorf("backend saw SNI %q, want mtls.policy-e2e.test", info.ServerName)
		}
	})
	t.Run("without the client certificate the backend refuses", func(t *testing.T) {
		gw.expect(t, 502, req{host: "mtls-nocert.policy.test"})
	})
	t.Run("SAN mismatch is refused", func(t *testing.T) {
		gw.expect(t, 502, req{host: "mtls-badsan.policy.test"})
	})
	t.Run("unknown CA is refused", func(t *testing.T) {
		gw.expect(t, 502, req{host: "mtls-badca.policy.test"})
	})
}

func testMergePrecedence(t *testing.T, gw *gwClient) {
	t.Run("same field: the route-level policy wins", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: "merge.policy.test"})
		if got := resp.header.Values("x-policy-level"); !slices.Equal(got, []string{"route"}) {
			t.Errorf("x-policy-level %q, want [route]", got)
		}
		// different fields: the Gateway-level transformation applies too.
		if got := resp.header.Get("x-gw-transform"); got != "gateway" {
			t.Errorf("x-gw-transform %q: the Gateway-level transformation is missing", got)
		}
	})
	t.Run("no route-level policy: the Gateway-level fields apply", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: "session.policy.test"})
		if got := resp.header.Values("x-policy-level"); !slices.Equal(got, []string{"gateway"}) {
			t.Errorf("x-policy-level %q, want [gateway]", got)
		}
		if got := resp.header.Get("x-gw-transform"); got != "gateway" {
			t.Errorf("x-gw-transform %q, want gateway", got)
		}
	})
	t.Run("a route-level transformation replaces the Gateway-level one", func(t *testing.T) {
		resp := gw.expect(t, 200, req{host: "transform.policy.test"})
		if got := resp.header.Get("x-gw-transform"); got != "" {
			t.Errorf("x-gw-transform %q on a route whose own policy sets transformation", got)
		}
		if got := resp.header.Get("x-policy-level"); got != "gateway" {
			t.Errorf("x-policy-level %q, want gateway (a different field)", got)
		}
	})
}

func testEffectiveConfig(t *testing.T, k kctl) {
	ec, err := getEffectiveConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	got := policyFieldsByRoute(ec)
	routes := slices.Sorted(maps.Keys(wantPolicyFields))
	for _, route := range routes {
		for _, want := range wantPolicyFields[route] {
			if !slices.Contains(got[route], want) {
				t.Errorf("effectiveconfig route %s: want %q, has %q", route, want, got[route])
			}
		}
	}
	// The table view summarizes it. Either operator replica may answer, and a replica learns
	// of proxies connected to the other one through its peer sync (every second): poll.
	var row []string
	var out string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out = k.must(t, "-n", policyNS, "get", "effectiveconfig", "policy")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME GATEWAY-CLASS LISTENERS ROUTES POLICIES VERSION PROXIES AGE" {
			t.Fatalf("kubectl get effectiveconfig table:\n%s", out)
		}
		row = strings.Fields(lines[1])
		if row[6] == "1/1" || time.Now().After(deadline) {
			break
		}
	}
	if routes, err := strconv.Atoi(row[3]); err != nil || row[0] != "policy" || routes < len(wantPolicyFields) || row[4] == "0" || row[6] != "1/1" {
		t.Errorf("kubectl get effectiveconfig table row %q: want Gateway policy, at least %d routes, policies, one proxy synced (1/1)", row, len(wantPolicyFields))
	}
	// Secret material is redacted.
	yaml := k.must(t, "-n", policyNS, "get", "effectiveconfig", "policy", "-o", "yaml")
	for _, secret := range []string{"key-alice-123", "key-bob-456", "alice-password"} {
		if strings.Contains(yaml, secret) {
			t.Errorf("effectiveconfig shows secret %q", secret)
		}
	}
}
