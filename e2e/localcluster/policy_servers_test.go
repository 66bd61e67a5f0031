package localcluster_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// bridgeIP is the host's address on the cluster bridge: pods (and so the proxies) reach test
// servers listening there.
const bridgeIP = "10.244.0.1"

// serveOnBridge serves h on bridgeIP at a free port until the test ends and returns the port.
func serveOnBridge(t testing.TB, h http.Handler, tlsConf *tls.Config) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(bridgeIP, "0"))
	if err != nil {
		t.Fatalf("listen on the cluster bridge %s: %v", bridgeIP, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if tlsConf != nil {
		srv.TLSConfig = tlsConf
		ln = tls.NewListener(ln, tlsConf)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// echoed is what the echo servers return: the conformance echo-basic (pod set) and
// hostBackend (body and attempt set).
type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Pod     string              `json:"pod"`
	Body    string              `json:"body"`
	Attempt int                 `json:"attempt"`
}

func decodeEchoed(t testing.TB, r *gwResponse) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("response is not an echo: %v: %s", err, r)
	}
	return e
}

// header returns the values the backend received for name.
func (e echoed) header(name string) []string {
	return e.Headers[http.CanonicalHeaderKey(name)]
}

// hostBackend echoes requests (with their body) as JSON and misbehaves on demand:
// x-delay: <duration> answers late; x-fail-once: <key> answers 503 to the first attempt
// carrying that key. It counts attempts per key.
type hostBackend struct {
	mu       sync.Mutex
	attempts map[string]int
}

func newHostBackend() *hostBackend { return &hostBackend{attempts: map[string]int{}} }

func (b *hostBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d, err := time.ParseDuration(r.Header.Get("x-delay")); err == nil {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	attempt := 0
	if k := r.Header.Get("x-fail-once"); k != "" {
		b.mu.Lock()
		b.attempts[k]++
		attempt = b.attempts[k]
		b.mu.Unlock()
		if attempt == 1 {
			http.Error(w, "the first attempt fails", http.StatusServiceUnavailable)
			return
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend-Secret", "s3cr3t")
	json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Headers: r.Header, Body: string(body), Attempt: attempt}) //nolint:errcheck // the test client decodes this and fails on a cut-off body
}

func (b *hostBackend) attemptsOf(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.attempts[key]
}

// extAuthHTTPServer is an HTTP external authorization service. It decides by the
// x-ext-auth request header: allow (200 with X-Auth-User, which the policy copies upstream,
// and X-Not-Forwarded, which it must not), deny (403 with a reason header and body), anything
// else 401. It records the paths it was asked about, by the x-test-id request header.
type extAuthHTTPServer struct {
	mu    sync.Mutex
	paths map[string]string // x-test-id -> checked path
}

func newExtAuthHTTPServer() *extAuthHTTPServer {
	return &extAuthHTTPServer{paths: map[string]string{}}
}

func (s *extAuthHTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("x-test-id"); id != "" {
		s.mu.Lock()
		s.paths[id] = r.URL.RequestURI()
		s.mu.Unlock()
	}
	switch r.Header.Get("x-ext-auth") {
	case "allow":
		w.Header().Set("X-Auth-User", "alice")
		w.Header().Set("X-Not-Forwarded", "leak")
		w.WriteHeader(http.StatusOK)
	case "deny":
		w.Header().Set("X-Ext-Auth-Reason", "blocked-by-test")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "denied by ext-auth")
	default:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "sign in first")
	}
}

func (s *extAuthHTTPServer) checkedPath(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[id]
}

// jwtIssuer signs RS256 tokens and serves its JWKS; a second key (not published) signs
// forged tokens.
type jwtIssuer struct {
	issuer  string
	key     *rsa.PrivateKey
	forger  *rsa.PrivateKey
	kid     string
	fetches atomic.Int32
}

func newJWTIssuer(t testing.TB, issuer string) *jwtIssuer {
	t.Helper()
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtIssuer{issuer: issuer, key: k1, forger: k2, kid: "policy-e2e-1"}
}

// ServeHTTP serves the JWKS document.
func (j *jwtIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/jwks.json" {
		http.NotFound(w, r)
		return
	}
	j.fetches.Add(1)
	pub := j.key.PublicKey
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": j.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc) //nolint:errcheck // the test client decodes this and fails on a cut-off body
}

// token signs claims (iss, iat and a 10 minute exp are added unless set).
func (j *jwtIssuer) token(t testing.TB, claims map[string]any) string {
	return j.sign(t, j.key, claims)
}

// forged signs with a key that is not in the JWKS.
func (j *jwtIssuer) forged(t testing.TB, claims map[string]any) string {
	return j.sign(t, j.forger, claims)
}

func (j *jwtIssuer) sign(t testing.TB, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": j.issuer, "iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	hdr, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": j.kid})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// testCA issues certificates for the backend TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns PEM certificate and key for cn with DNS SANs, for server or client use.
func (ca *testCA) issue(t testing.TB, cn string, dnsNames []string, client bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// mtlsBackend is an HTTPS server that requires a client certificate from clientCA and
// answers with what it saw of the handshake.
type mtlsInfo struct {
	ClientCN   string `json:"clientCN"`
	ServerName string `json:"serverName"`
}

func serveMTLSBackend(t testing.TB, serverCert, serverKey string, clientCA *testCA) int {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(serverCert), []byte(serverKey))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	conf := &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := mtlsInfo{ServerName: r.TLS.ServerName}
		if len(r.TLS.PeerCertificates) > 0 {
			info.ClientCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(info) //nolint:errcheck // the test client decodes this and fails on a cut-off body
	})
	return serveOnBridge(t, h, conf)
}

// extAuthGRPCServer is an Envoy ext_authz v3 Authorization service. It decides by the
// x-ext-auth request header: allow (OK, adding x-auth-user upstream, removing x-drop-me and
// adding x-ext-authz to the response), deny (PERMISSION_DENIED with a 403 denied_response,
// a reason header and body), anything else UNAUTHENTICATED with 401. It records each check
// by the x-test-id header.
type extAuthGRPCServer struct {
	authv3.UnimplementedAuthorizationServer
	mu     sync.Mutex
	checks map[string]*authv3.CheckRequest
}

func newExtAuthGRPCServer() *extAuthGRPCServer {
	return &extAuthGRPCServer{checks: map[string]*authv3.CheckRequest{}}
}

// serve listens on the bridge until the test ends and returns the port.
func (s *extAuthGRPCServer) serve(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(bridgeIP, "0"))
	if err != nil {
		t.Fatalf("listen on the cluster bridge %s: %v", bridgeIP, err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, s)
	go func() {
		// Serve returns nil after Stop; anything else is a listener failure.
		if err := srv.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *extAuthGRPCServer) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	headers := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
	if id := headers["x-test-id"]; id != "" {
		s.mu.Lock()
		s.checks[id] = req
		s.mu.Unlock()
	}
	hv := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}}
	}
	switch headers["x-ext-auth"] {
	case "allow":
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers:              []*corev3.HeaderValueOption{hv("x-auth-user", "grpc-alice")},
				HeadersToRemove:      []string{"x-drop-me"},
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-ext-authz", "checked")},
			}},
		}, nil
	case "deny":
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
				Headers: []*corev3.HeaderValueOption{hv("x-ext-auth-reason", "grpc-blocked")},
				Body:    "denied by grpc ext-auth",
			}},
		}, nil
	default:
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.Unauthenticated)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
				Body:   "sign in first",
			}},
		}, nil
	}
}

func (s *extAuthGRPCServer) check(id string) *authv3.CheckRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checks[id]
}
