package translate_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // htpasswd {SHA} entries are SHA-1 by definition
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
)

// The tests of this file take AgentgatewayPolicy fields from the API object to the wire: a
// Snapshot is translated, the Gateway's config is served by a proxy runtime on loopback
// (listener ports moved to free ones), and requests over real sockets show the field's
// effect. docs/api-fields.md lists them per field.

// gatewayBase is a GatewayClass and a Gateway with one HTTP listener on port 80.
const gatewayBase = `
gatewayClasses:
- metadata: {name: agentgateway, generation: 1}
  spec: {controllerName: agentgateway.dev/agentgateway}
gateways:
- metadata: {name: gw, namespace: default, generation: 1}
  spec:
    gatewayClassName: agentgateway
    listeners:
    - {name: http, port: 80, protocol: HTTP}
`

// httpsListener, appended to gatewayBase, adds an HTTPS listener on port 443 with the
// certificate of Secret tls (see tlsSecret).
const httpsListener = `
    - name: https
      port: 443
      protocol: HTTPS
      tls: {certificateRefs: [{name: tls}]}
`

// echoRoute is HTTPRoute web on Gateway gw with one rule to AgentgatewayBackend echo, a
// static backend on 127.0.0.1:{{port}}.
const echoRoute = `
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
backends:
- metadata: {name: echo, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
`

// loopbackService is Service name with one TCP port (portName, port) and an EndpointSlice
// per target port, each with the ready endpoint 127.0.0.1.
func loopbackService(name, portName string, port int, targetPorts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "services:\n- metadata: {name: %s, namespace: default}\n  spec:\n    ports: [{name: %s, port: %d, protocol: TCP}]\nendpointSlices:\n", name, portName, port)
	for i, tp := range targetPorts {
		fmt.Fprintf(&b, "- metadata: {name: %s-%c, namespace: default, labels: {kubernetes.io/service-name: %s}}\n", name, 'a'+i, name)
		fmt.Fprintf(&b, "  addressType: IPv4\n  ports: [{name: %s, port: %s, protocol: TCP}]\n", portName, tp)
		b.WriteString("  endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n")
	}
	return b.String()
}

// tlsSecret is Secret default/tls holding leaf, the certificate of httpsListener.
func tlsSecret(leaf *testcerts.Leaf) corev1.Secret {
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "default"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte(leaf.CertPEM), corev1.TLSPrivateKeyKey: []byte(leaf.KeyPEM)},
	}
}

// served is a translated Gateway served on loopback.
type served struct {
	res   *translate.Result
	ports map[int]int // listener port -> the loopback port it is served on
}

// url is the address of a path on the listener port of the Gateway.
func (s *served) url(listenerPort int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.ports[listenerPort], path)
}

// serve translates the Snapshot in doc (with vars replaced, "{{name}}" -> value) plus
// extra Secrets, checks that every AgentgatewayPolicy is accepted with every field
// enforced, and serves the config of Gateway default/gw.
func serve(t *testing.T, doc string, vars map[string]string, secrets ...corev1.Secret) *served {
	t.Helper()
	for k, v := range vars {
		doc = strings.ReplaceAll(doc, "{{"+k+"}}", v)
	}
	s := &translate.Snapshot{}
	if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
		t.Fatal(err)
	}
	s.ControllerName = "agentgateway.dev/agentgateway"
	s.Secrets = append(s.Secrets, secrets...)
	res := translate.Translate(s)
	for _, p := range res.Policies {
		for _, a := range p.Ancestors {
			for _, c := range a.Conditions {
				if c.Type == "Accepted" && (c.Status != metav1.ConditionTrue || strings.Contains(c.Message, "not enforced")) {
					t.Fatalf("policy %s/%s: Accepted=%s %s: %s", p.Key.Namespace, p.Key.Name, c.Status, c.Reason, c.Message)
				}
			}
		}
	}
	var gw *translate.GatewayResult
	for i := range res.Gateways {
		if res.Gateways[i].Name == "gw" {
			gw = &res.Gateways[i]
		}
	}
	if gw == nil || gw.Config == nil {
		t.Fatalf("Gateway default/gw has no config: %+v", res.Gateways)
	}
	cfg := gw.Config.DeepCopy()
	out := &served{res: res, ports: map[int]int{}}
	for i := range cfg.Binds {
		b := &cfg.Binds[i]
		p := freePort(t)
		out.ports[b.Port] = p
		b.Address, b.Port = "127.0.0.1", p
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("translated config: %v", err)
	}
	rt := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	if err := rt.Apply(cfg); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// portOf is the port of a host:port address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// serverPort is the loopback port a test server listens on.
func serverPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	return portOf(t, srv.Listener.Addr().String())
}

// startProtoRecorder starts a backend speaking HTTP/1.1 and h2c that answers "ok"; proto
// is the protocol the last request for a path arrived with ("" if none did).
func startProtoRecorder(t *testing.T) (port string, proto func(path string) string) {
	t.Helper()
	var mu sync.Mutex
	protos := map[string]string{} // path -> protocol the backend saw
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.URL.Path] = r.Proto
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return serverPort(t, srv), func(path string) string {
		mu.Lock()
		defer mu.Unlock()
		return protos[path]
	}
}

// echoed is what echo backends answer: who answered and what they saw.
type echoed struct {
	Backend string      `json:"backend"`
	Path    string      `json:"path"`
	Proto   string      `json:"proto"`
	Headers http.Header `json:"headers"`
}

// startEcho starts an HTTP/1.1 backend on addr ("127.0.0.1:0" for any port) that answers
// 200 with an echoed body.
func startEcho(t *testing.T, name, addr string) (host, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Exposed", "yes")
		if err := json.NewEncoder(w).Encode(echoed{Backend: name, Path: r.URL.Path, Proto: r.Proto, Headers: r.Header}); err != nil {
			return // the client reads a cut-off body and fails on it
		}
	}))
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return "127.0.0.1", portOf(t, ln.Addr().String())
}

type reply struct {
	code   int
	header http.Header
	body   string
	echo   echoed
}

// send makes one request with headers given as name, value pairs.
func send(t *testing.T, c *http.Client, method, url string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &r.echo); err != nil {
			t.Fatalf("echo body %q: %v", b, err)
		}
	}
	return r
}

var client = &http.Client{Timeout: 10 * time.Second}

// TestFieldsFrontendTLS: frontend.tls.minVersion refuses TLS 1.2 handshakes,
// frontend.tls.alpnProtocols replaces the default h2 and http/1.1 offer, and
// frontend.http.http3 advertises HTTP/3 with Alt-Svc.
func TestFieldsFrontendTLS(t *testing.T) {
	ca := testcerts.NewCA("fields-ca")
	leaf := ca.Issue("www.example.com")
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	s := serve(t, gatewayBase+httpsListener+echoRoute+`
policies:
- metadata: {name: frontend, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: https}]
    frontend:
      tls: {minVersion: "1.3", alpnProtocols: [http/1.1]}
      http: {http3: true}
`, map[string]string{"port": echoPort}, tlsSecret(leaf))
	addr := fmt.Sprintf("127.0.0.1:%d", s.ports[443])

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "www.example.com", MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Error("minVersion 1.3: a TLS 1.2 handshake was accepted")
	}
	conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "www.example.com", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS 1.3 handshake: %v", err)
	}
	st := conn.ConnectionState()
	conn.Close()
	if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("handshake: version %x, ALPN %q; want TLS 1.3 and http/1.1 (alpnProtocols leaves out h2)", st.Version, st.NegotiatedProtocol)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "www.example.com"}}
	defer tr.CloseIdleConnections()
	r := send(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, "GET", fmt.Sprintf("https://%s/", addr), "Host", "www.example.com")
	if r.code != 200 || r.echo.Backend != "echo" {
		t.Fatalf("HTTPS request: %d %s", r.code, r.body)
	}
	if alt := r.header.Get("Alt-Svc"); !strings.Contains(alt, "h3=") {
		t.Errorf("http3: Alt-Svc %q does not advertise h3", alt)
	}
}

// TestFieldsBackendTLS: backend.tls.insecureSkipVerify accepts a certificate no CA vouches
// for, which the same backend without the policy refuses; backend.tls.alpnProtocols is the
// protocol list the backend is offered, with the CA and SNI of the policy.
func TestFieldsBackendTLS(t *testing.T) {
	ca := testcerts.NewCA("backend-ca")
	leaf := ca.Issue("backend.internal")
	var mu sync.Mutex
	offered := map[string][]string{} // SNI -> ALPN offered
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "tls ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		offered[h.ServerName] = slices.Clone(h.SupportedProtos)
		mu.Unlock()
		return nil, nil
	}}
	// The request without the policy fails verification on purpose: no handshake log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	port := serverPort(t, srv)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /verified}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: verified}]
    - matches: [{path: {value: /skip}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: skip}]
    - matches: [{path: {value: /alpn}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: alpn}]
backends:
- metadata: {name: verified, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}, appProtocol: https}}
- metadata: {name: skip, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
- metadata: {name: alpn, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
configMaps:
- metadata: {name: ca, namespace: default}
  data: {ca.crt: "{{ca}}"}
policies:
- metadata: {name: skip, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: skip}]
    backend:
      tls: {insecureSkipVerify: true}
- metadata: {name: alpn, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: alpn}]
    backend:
      tls: {caCertificateRefs: [{kind: ConfigMap, name: ca}], sni: backend.internal, alpnProtocols: [x-fields, http/1.1]}
`, map[string]string{"port": port, "ca": strings.ReplaceAll(ca.CertPEM, "\n", `\n`)})

	if r := send(t, client, "GET", s.url(80, "/verified")); r.code != http.StatusBadGateway {
		t.Errorf("no policy, unknown CA: %d %s; want 502", r.code, r.body)
	}
	if r := send(t, client, "GET", s.url(80, "/skip")); r.code != 200 || r.body != "tls ok" {
		t.Errorf("insecureSkipVerify: %d %s; want 200", r.code, r.body)
	}
	if r := send(t, client, "GET", s.url(80, "/alpn")); r.code != 200 || r.body != "tls ok" {
		t.Errorf("CA, SNI and ALPN: %d %s; want 200", r.code, r.body)
	}
	mu.Lock()
	got := offered["backend.internal"]
	mu.Unlock()
	if !slices.Equal(got, []string{"x-fields", "http/1.1"}) {
		t.Errorf("ALPN offered to the backend with SNI backend.internal: %q, want [x-fields http/1.1] (all: %q)", got, offered)
	}
}

// jwtSigner signs ES256 tokens.
type jwtSigner struct{ key *ecdsa.PrivateKey }

func newJWTSigner(t *testing.T) *jwtSigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtSigner{k}
}

func (s *jwtSigner) jwks(t *testing.T) string {
	pub, err := s.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","x":%q,"y":%q}]}`, b(pub[1:33]), b(pub[33:]))
}

func (s *jwtSigner) token(t *testing.T, claims map[string]any) string {
	enc := func(v any) string {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(js)
	}
	signed := enc(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"}) + "." + enc(claims)
	d := sha256.Sum256([]byte(signed))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestFieldsAuthModesAndHeaders: mode Optional lets requests without credentials through
// but not requests with wrong ones, for JWT, API key and basic authentication; tokenHeader
// and header move where the credential is read from; realm is what a basic-auth 401 names.
func TestFieldsAuthModesAndHeaders(t *testing.T) {
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	signer := newJWTSigner(t)
	jwks, err := json.Marshal(signer.jwks(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte("s3cret")) //nolint:gosec // the {SHA} htpasswd format
	htpasswd := "bob:{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - {name: jwt, matches: [{path: {value: /jwt}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
    - {name: apikey, matches: [{path: {value: /apikey}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
    - {name: basic, matches: [{path: {value: /basic}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
    - {name: strict, matches: [{path: {value: /strict}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
backends:
- metadata: {name: echo, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
policies:
- metadata: {name: jwt, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: jwt}]
    traffic:
      jwtAuthentication:
        mode: Optional
        providers: [{name: t, issuer: "https://issuer.test", jwks: {inline: {{jwks}}}, tokenHeader: x-token}]
- metadata: {name: apikey, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: apikey}]
    traffic:
      apiKeyAuthentication: {mode: Optional, header: x-api-key, secretRefs: [{name: keys}]}
- metadata: {name: basic, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: basic}]
    traffic:
      basicAuthentication: {mode: Optional, secretRef: {name: htpasswd}, realm: fields-realm}
- metadata: {name: strict, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: strict}]
    traffic:
      basicAuthentication: {secretRef: {name: htpasswd}, realm: fields-realm}
`, map[string]string{"port": echoPort, "jwks": string(jwks)},
		corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: "default"}, Data: map[string][]byte{"alice": []byte("k-alice")}},
		corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "htpasswd", Namespace: "default"}, Data: map[string][]byte{".htpasswd": []byte(htpasswd)}})

	good := signer.token(t, map[string]any{"iss": "https://issuer.test", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	forged := newJWTSigner(t).token(t, map[string]any{"iss": "https://issuer.test", "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()})
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, c := range []struct {
		name, path string
		hdr        []string
		want       int
	}{
		{"jwt: no token (Optional)", "/jwt", nil, 200},
		{"jwt: valid token in tokenHeader", "/jwt", []string{"X-Token", good}, 200},
		{"jwt: forged token in tokenHeader", "/jwt", []string{"X-Token", forged}, 401},
		{"jwt: forged token in Authorization is not read", "/jwt", []string{"Authorization", "Bearer " + forged}, 200},
		{"apikey: no key (Optional)", "/apikey", nil, 200},
		{"apikey: key in header", "/apikey", []string{"X-Api-Key", "k-alice"}, 200},
		{"apikey: wrong key in header", "/apikey", []string{"X-Api-Key", "k-mallory"}, 401},
		{"apikey: wrong key in Authorization is not read", "/apikey", []string{"Authorization", "Bearer k-mallory"}, 200},
		{"basic: no credentials (Optional)", "/basic", nil, 200},
		{"basic: good credentials", "/basic", []string{"Authorization", basic("bob", "s3cret")}, 200},
		{"basic: wrong password", "/basic", []string{"Authorization", basic("bob", "nope")}, 401},
		{"basic: no credentials (Strict)", "/strict", nil, 401},
	} {
		r := send(t, client, "GET", s.url(80, c.path), c.hdr...)
		if r.code != c.want {
			t.Errorf("%s: %d %s; want %d", c.name, r.code, r.body, c.want)
		}
		if c.want == 200 && r.echo.Backend != "echo" {
			t.Errorf("%s: answered by %q, not the backend: %s", c.name, r.echo.Backend, r.body)
		}
	}
	if r := send(t, client, "GET", s.url(80, "/strict")); r.header.Get("WWW-Authenticate") != `Basic realm="fields-realm", charset="UTF-8"` {
		t.Errorf("realm: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
}

// TestFieldsRateLimitBurst: burst sizes the bucket independently of the refill rate.
func TestFieldsRateLimitBurst(t *testing.T) {
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - {name: burst, matches: [{path: {value: /burst}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
    - {name: plain, matches: [{path: {value: /plain}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
backends:
- metadata: {name: echo, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
policies:
- metadata: {name: burst, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: burst}]
    traffic:
      rateLimit: {local: [{requests: 1, unit: Hour, burst: 3}]}
- metadata: {name: plain, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: plain}]
    traffic:
      rateLimit: {local: [{requests: 1, unit: Hour}]}
`, map[string]string{"port": echoPort})
	codes := func(path string, n int) []int {
		var out []int
		for range n {
			out = append(out, send(t, client, "GET", s.url(80, path)).code)
		}
		return out
	}
	if got := codes("/burst", 4); !slices.Equal(got, []int{200, 200, 200, 429}) {
		t.Errorf("1 per hour, burst 3: %v", got)
	}
	if got := codes("/plain", 2); !slices.Equal(got, []int{200, 429}) {
		t.Errorf("1 per hour, no burst: %v", got)
	}
}

// TestFieldsBackendRequestTimeoutAndRetryBudget: timeouts.backendRequest bounds one attempt
// (504); retry.budget.minRetriesPerSecond allows retries that a 0% budget would refuse.
func TestFieldsBackendRequestTimeoutAndRetryBudget(t *testing.T) {
	var minCalls, noneCalls atomic.Int64
	release := make(chan struct{})
	defer close(release)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/retry-min":
			minCalls.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/retry-none":
			noneCalls.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer flaky.Close()
	port := serverPort(t, flaky)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - {name: slow, matches: [{path: {value: /slow}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: flaky}]}
    - {name: retry-min, matches: [{path: {value: /retry-min}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: flaky}]}
    - {name: retry-none, matches: [{path: {value: /retry-none}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: flaky}]}
backends:
- metadata: {name: flaky, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
policies:
- metadata: {name: slow, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: slow}]
    traffic:
      timeouts: {backendRequest: 200ms}
- metadata: {name: retry-min, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: retry-min}]
    traffic:
      retry: {attempts: 1, codes: [503], backoff: 1ms, budget: {percent: 0, minRetriesPerSecond: 5}}
- metadata: {name: retry-none, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: retry-none}]
    traffic:
      retry: {attempts: 1, codes: [503], backoff: 1ms, budget: {percent: 0, minRetriesPerSecond: 0}}
`, map[string]string{"port": port})
	start := time.Now()
	if r := send(t, client, "GET", s.url(80, "/slow")); r.code != http.StatusGatewayTimeout {
		t.Errorf("backendRequest 200ms: %d %s; want 504", r.code, r.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("backendRequest 200ms: answered after %v", d)
	}
	if r := send(t, client, "GET", s.url(80, "/retry-min")); r.code != 503 || minCalls.Load() != 2 {
		t.Errorf("budget 0%% with minRetriesPerSecond 5: %d after %d calls; want 503 after 2", r.code, minCalls.Load())
	}
	if r := send(t, client, "GET", s.url(80, "/retry-none")); r.code != 503 || noneCalls.Load() != 1 {
		t.Errorf("budget 0%% without minimum: %d after %d calls; want 503 after 1", r.code, noneCalls.Load())
	}
}

// TestFieldsSessionPersistence: type Header pins a client that sends the session header
// back to one endpoint; a Permanent cookie lives absoluteTimeout.
func TestFieldsSessionPersistence(t *testing.T) {
	_, p1 := startEcho(t, "e1", "127.0.0.1:0")
	_, p2 := startEcho(t, "e2", "127.0.0.1:0")
	s := serve(t, gatewayBase+loopbackService("echo", "http", 80, "{{p1}}", "{{p2}}")+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - {name: header, matches: [{path: {value: /header}}], backendRefs: [{name: echo, port: 80}]}
    - {name: cookie, matches: [{path: {value: /cookie}}], backendRefs: [{name: echo, port: 80}]}
policies:
- metadata: {name: header, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: header}]
    traffic:
      sessionPersistence: {type: Header, header: {name: x-session}}
- metadata: {name: cookie, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: cookie}]
    traffic:
      sessionPersistence: {absoluteTimeout: 1h, cookie: {name: sid, lifetimeType: Permanent}}
`, map[string]string{"p1": p1, "p2": p2})

	first := send(t, client, "GET", s.url(80, "/header"))
	token := first.header.Get("X-Session")
	if first.code != 200 || token == "" || first.header.Get("Set-Cookie") != "" {
		t.Fatalf("type Header: %d, x-session %q, Set-Cookie %q", first.code, token, first.header.Get("Set-Cookie"))
	}
	for i := range 20 {
		if r := send(t, client, "GET", s.url(80, "/header"), "X-Session", token); r.echo.Backend != first.echo.Backend {
			t.Fatalf("request %d with the session header went to %s, the session is on %s", i, r.echo.Backend, first.echo.Backend)
		}
	}
	r := send(t, client, "GET", s.url(80, "/cookie"))
	ck := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "sid=") || !strings.Contains(ck, "Max-Age="+strconv.Itoa(3600)) {
		t.Errorf("Permanent cookie with absoluteTimeout 1h: Set-Cookie %q", ck)
	}
}

// TestFieldsCORS: traffic.cors allowCredentials and exposeHeaders reach actual responses;
// allowOrigins, allowMethods, allowHeaders and maxAge answer preflights.
func TestFieldsCORS(t *testing.T) {
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	s := serve(t, gatewayBase+echoRoute+`
policies:
- metadata: {name: cors, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}]
    traffic:
      cors: {allowOrigins: ["https://app.example.com"], allowCredentials: true, exposeHeaders: [x-exposed], allowMethods: [GET, PUT], allowHeaders: [x-custom], maxAge: 600}
`, map[string]string{"port": echoPort})
	r := send(t, client, "GET", s.url(80, "/"), "Origin", "https://app.example.com")
	if r.code != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("allowed origin: %d, Access-Control-Allow-Origin %q", r.code, r.header.Get("Access-Control-Allow-Origin"))
	}
	if got := r.header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("allowCredentials: Access-Control-Allow-Credentials %q", got)
	}
	if got := strings.ToLower(r.header.Get("Access-Control-Expose-Headers")); !strings.Contains(got, "x-exposed") {
		t.Errorf("exposeHeaders: Access-Control-Expose-Headers %q", got)
	}

	// A preflight is answered by the proxy with the allowed methods, headers and max age.
	r = send(t, client, "OPTIONS", s.url(80, "/"), "Origin", "https://app.example.com",
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "x-custom")
	if r.code >= 300 || r.echo.Backend != "" {
		t.Fatalf("preflight: %d %s; want an answer from the proxy", r.code, r.body)
	}
	for h, want := range map[string]string{"Access-Control-Allow-Methods": "put", "Access-Control-Allow-Headers": "x-custom", "Access-Control-Max-Age": "600"} {
		if got := strings.ToLower(r.header.Get(h)); !strings.Contains(got, want) {
			t.Errorf("preflight: %s %q, want %q in it", h, got, want)
		}
	}
	if r := send(t, client, "OPTIONS", s.url(80, "/"), "Origin", "https://evil.example.com", "Access-Control-Request-Method", "PUT"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an origin not allowed: Access-Control-Allow-Origin %q", r.header.Get("Access-Control-Allow-Origin"))
	}
}

// TestFieldsExtAuthTimeout: extAuth.timeout bounds a call to an HTTP authorization service
// that does not answer; failureMode then decides (Closed: 403, Open: the request passes).
func TestFieldsExtAuthTimeout(t *testing.T) {
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	release := make(chan struct{})
	defer close(release)
	var checks atomic.Int64
	authz := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer authz.Close()
	authzPort := serverPort(t, authz)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - {name: closed, matches: [{path: {value: /closed}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
    - {name: open, matches: [{path: {value: /open}}], backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]}
backends:
- metadata: {name: echo, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
- metadata: {name: authz, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{authz}}}}
policies:
- metadata: {name: closed, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: closed}]
    traffic:
      extAuth: {protocol: HTTP, backendRef: {group: agentgateway.dev, kind: AgentgatewayBackend, name: authz}, timeout: 200ms}
- metadata: {name: open, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: open}]
    traffic:
      extAuth: {protocol: HTTP, backendRef: {group: agentgateway.dev, kind: AgentgatewayBackend, name: authz}, timeout: 200ms, failureMode: Open}
`, map[string]string{"port": echoPort, "authz": authzPort})
	for _, c := range []struct {
		path string
		want int
	}{{"/closed", http.StatusForbidden}, {"/open", http.StatusOK}} {
		start := time.Now()
		r := send(t, client, "GET", s.url(80, c.path))
		if r.code != c.want || time.Since(start) > 5*time.Second {
			t.Errorf("%s: %d after %v; want %d after about 200ms", c.path, r.code, time.Since(start), c.want)
		}
	}
	if n := checks.Load(); n != 2 {
		t.Errorf("the authorization service got %d calls, want 2", n)
	}
}

// TestFieldsJWKSCacheDuration: a remote JWKS is fetched again once cacheDuration has
// passed, so a rotated signing key is accepted then, and not before.
func TestFieldsJWKSCacheDuration(t *testing.T) {
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	oldKey, newKey := newJWTSigner(t), newJWTSigner(t)
	var mu sync.Mutex
	current := oldKey.jwks(t)
	var fetches []time.Time
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches = append(fetches, time.Now())
		fmt.Fprint(w, current)
	}))
	defer jwksSrv.Close()
	s := serve(t, gatewayBase+echoRoute+`
policies:
- metadata: {name: jwt, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}]
    traffic:
      jwtAuthentication:
        providers: [{name: t, issuer: "https://issuer.test", jwks: {remote: {url: "{{url}}/jwks.json", cacheDuration: 1s}}}]
`, map[string]string{"port": echoPort, "url": jwksSrv.URL})
	claims := map[string]any{"iss": "https://issuer.test", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	oldToken, newToken := oldKey.token(t, claims), newKey.token(t, claims)
	if r := send(t, client, "GET", s.url(80, "/"), "Authorization", "Bearer "+oldToken); r.code != 200 {
		t.Fatalf("token of the served key: %d %s", r.code, r.body)
	}
	rotated := newKey.jwks(t)
	mu.Lock()
	current = rotated
	mu.Unlock()
	if r := send(t, client, "GET", s.url(80, "/"), "Authorization", "Bearer "+newToken); r.code != 401 {
		t.Fatalf("token of the rotated key within cacheDuration: %d, want 401 (cached keys)", r.code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for send(t, client, "GET", s.url(80, "/"), "Authorization", "Bearer "+newToken).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key is still refused 10s later: cacheDuration 1s did not expire the cached JWKS")
		}
		time.Sleep(50 * time.Millisecond) // polling for the expiry, which is the behaviour under test
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetches) < 2 || fetches[1].Sub(fetches[0]) < time.Second {
		t.Errorf("fetches at %v: want a second fetch no sooner than cacheDuration (1s) after the first", fetches)
	}
}

// TestFieldsBackendHTTP2: backend.http.version HTTP2 on a plain backend, and appProtocol
// kubernetes.io/h2c on an AgentgatewayBackend, make the proxy speak h2c to the backend.
func TestFieldsBackendHTTP2(t *testing.T) {
	port, proto := startProtoRecorder(t)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /plain}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: plain}]
    - matches: [{path: {value: /version}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: version}]
    - matches: [{path: {value: /h2c}}]
      backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: h2c}]
backends:
- metadata: {name: plain, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
- metadata: {name: version, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
- metadata: {name: h2c, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}, appProtocol: kubernetes.io/h2c}}
policies:
- metadata: {name: version, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: version}]
    backend:
      http: {version: HTTP2}
`, map[string]string{"port": port})
	for path, want := range map[string]string{"/plain": "HTTP/1.1", "/version": "HTTP/2.0", "/h2c": "HTTP/2.0"} {
		if r := send(t, client, "GET", s.url(80, path)); r.code != 200 {
			t.Errorf("%s: %d %s", path, r.code, r.body)
		}
		if got := proto(path); got != want {
			t.Errorf("%s: the backend saw %q, want %q", path, got, want)
		}
	}
}

// TestFieldsBackendConnectTimeout: backend.tcp.connectTimeout bounds the connection set-up
// to a backend that never completes the handshake (a listener whose accept queue is full
// drops SYNs), instead of the 10s default.
func TestFieldsBackendConnectTimeout(t *testing.T) {
	port := portOf(t, fullListener(t))
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: stuck}]
backends:
- metadata: {name: stuck, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
policies:
- metadata: {name: connect, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: stuck}]
    backend:
      tcp: {connectTimeout: 300ms}
`, map[string]string{"port": port})
	start := time.Now()
	r := send(t, &http.Client{Timeout: 8 * time.Second}, "GET", s.url(80, "/"))
	if d := time.Since(start); r.code < 500 || d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("connectTimeout 300ms: %d after %v; want a 5xx after 300ms to a few seconds", r.code, d)
	}
}

// fullListener is a loopback TCP listener with a backlog of one that accepts nothing,
// with its accept queue filled: the kernel drops further SYNs, so connecting to it hangs.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	err = syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	if err == nil {
		err = syscall.Listen(fd, 1)
	}
	var ln net.Listener
	if err == nil {
		ln, err = net.FileListener(f) // a duplicate of fd
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if i > 16 {
			t.Fatal("the accept queue of a listener with backlog 1 never filled")
		}
	}
}

// TestFieldsRetryBudgetInterval: retry.budget.interval is the window requests are counted
// over. With a 50% budget, a retry is allowed right after four requests, and refused once
// the interval has passed and they no longer count.
func TestFieldsRetryBudgetInterval(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			calls.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := serverPort(t, srv)
	s := serve(t, gatewayBase+`
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: flaky}]
backends:
- metadata: {name: flaky, namespace: default, generation: 1}
  spec: {static: {host: 127.0.0.1, port: {{port}}}}
policies:
- metadata: {name: budget, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}]
    traffic:
      retry: {attempts: 1, codes: [503], backoff: 1ms, budget: {percent: 50, interval: 1s, minRetriesPerSecond: 0}}
`, map[string]string{"port": port})
	failing := func() int64 {
		t.Helper()
		calls.Store(0)
		if r := send(t, client, "GET", s.url(80, "/fail")); r.code != 503 {
			t.Fatalf("/fail: %d %s", r.code, r.body)
		}
		return calls.Load()
	}
	for range 4 {
		if r := send(t, client, "GET", s.url(80, "/ok")); r.code != 200 {
			t.Fatalf("/ok: %d %s", r.code, r.body)
		}
	}
	last := time.Now()
	if n := failing(); n != 2 {
		t.Errorf("within the interval (5 requests, 1 retry): %d calls, want 2", n)
	}
	// The window is what is under test: let it pass (twice over, for its slot granularity).
	<-time.After(time.Until(last.Add(2 * time.Second)))
	if n := failing(); n != 1 {
		t.Errorf("after the interval (1 request counted): %d calls, want 1 (no retry)", n)
	}
}

// TestFieldsAttachment: a policy reaches requests through targetSelectors, through an
// ExtensionRef filter (a policy without targets, inline on one rule), and through a Service
// port target (sectionName names the port).
func TestFieldsAttachment(t *testing.T) {
	port, proto := startProtoRecorder(t)
	s := serve(t, gatewayBase+`
services:
- metadata: {name: echo, namespace: default}
  spec:
    ports: [{name: h2, port: 80, protocol: TCP}, {name: h1, port: 81, protocol: TCP}]
endpointSlices:
- metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
  addressType: IPv4
  ports: [{name: h2, port: {{port}}, protocol: TCP}, {name: h1, port: {{port}}, protocol: TCP}]
  endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1, labels: {app: web}}
  spec:
    parentRefs: [{name: gw}]
    rules:
    - matches: [{path: {value: /h2}}]
      backendRefs: [{name: echo, port: 80}]
    - matches: [{path: {value: /h1}}]
      backendRefs: [{name: echo, port: 81}]
    - matches: [{path: {value: /inline}}]
      filters:
      - type: ExtensionRef
        extensionRef: {group: agentgateway.dev, kind: AgentgatewayPolicy, name: inline}
      backendRefs: [{name: echo, port: 81}]
policies:
- metadata: {name: selected, namespace: default, generation: 1}
  spec:
    targetSelectors: [{group: gateway.networking.k8s.io, kind: HTTPRoute, matchLabels: {app: web}}]
    traffic:
      headerModifiers: {response: {set: [{name: x-selected, value: "yes"}]}}
- metadata: {name: inline, namespace: default, generation: 1}
  spec:
    traffic:
      directResponse: {status: 418, body: inline}
- metadata: {name: port, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: "", kind: Service, name: echo, sectionName: h2}]
    backend:
      http: {version: HTTP2}
`, map[string]string{"port": port})
	for _, c := range []struct {
		path, proto string
		code        int
	}{{"/h2", "HTTP/2.0", 200}, {"/h1", "HTTP/1.1", 200}, {"/inline", "", 418}} {
		r := send(t, client, "GET", s.url(80, c.path))
		if r.code != c.code || r.header.Get("X-Selected") != "yes" {
			t.Errorf("%s: %d, x-selected %q; want %d and the selected policy's header", c.path, r.code, r.header.Get("X-Selected"), c.code)
		}
		if got := proto(c.path); got != c.proto {
			t.Errorf("%s: the backend saw %q, want %q", c.path, got, c.proto)
		}
	}
}
