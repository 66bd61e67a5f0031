package cel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustCompile(t testing.TB, phase Phase, kind Kind, expr string) *Program {
	t.Helper()
	p, err := Compile(phase, kind, expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return p
}

func testRequest() *http.Request {
	r := httptest.NewRequest("POST", "https://API.Example.com:8443/v1/chat%2Fx?model=gpt&tag=a&tag=b", strings.NewReader(`{}`))
	r.Header.Set("X-User", "alice")
	r.Header.Add("Accept", "text/html")
	r.Header.Add("Accept", "application/json")
	r.Header["x-raw"] = []string{"not canonical"}
	r.RemoteAddr = "10.1.2.3:50000"
	return r
}

func testActivation() *Activation {
	r := testRequest()
	return &Activation{
		Request: RequestFromHTTP(r),
		Source:  SourceFromHTTP(r),
		JWT: NewJWT(map[string]any{
			"sub": "alice", "iss": "https://idp", "aud": []any{"api", "web"},
			"groups":       []any{"dev", "admin"},
			"realm_access": map[string]any{"roles": []any{"reader"}},
			"exp":          float64(1700000000),
		}),
		APIKey:   &APIKey{Name: "ci", Metadata: map[string]string{"team": "payments"}},
		Backend:  &Backend{Name: "llm", Protocol: "http2"},
		ExtAuthz: &ExtAuthz{Headers: http.Header{"X-Authz-User": {"bob"}}, Metadata: map[string]any{"tier": "gold"}},
	}
}

func TestEvalAgainstHTTPRequest(t *testing.T) {
	ctx := context.Background()
	act := testActivation()
	for _, tc := range []struct {
		phase Phase
		expr  string
		want  any
	}{
		{PhaseRequestHeaders, `request.method`, "POST"},
		{PhaseRequestHeaders, `request.path`, "/v1/chat%2Fx"},
		{PhaseRequestHeaders, `request.host`, "api.example.com"},
		{PhaseRequestHeaders, `request.scheme`, "https"},
		{PhaseRequestHeaders, `request.uri`, "/v1/chat%2Fx?model=gpt&tag=a&tag=b"},
		{PhaseRequestHeaders, `request.protocol`, "HTTP/1.1"},
		{PhaseRequestHeaders, `request.headers["x-user"]`, "alice"},
		{PhaseRequestHeaders, `request.headers["X-USER"]`, "alice"},
		{PhaseRequestHeaders, `request.headers.accept`, "text/html, application/json"},
		{PhaseRequestHeaders, `request.headers["x-raw"]`, "not canonical"},
		{PhaseRequestHeaders, `"x-user" in request.headers`, true},
		{PhaseRequestHeaders, `has(request.headers.missing)`, false},
		{PhaseRequestHeaders, `request.headers[?"missing"].orValue("none")`, "none"},
		{PhaseRequestHeaders, `request.headers.exists(k, k == "x-user")`, true},
		{PhaseRequestHeaders, `request.headers.all(k, k == k.lowerAscii())`, true},
		{PhaseRequestHeaders, `request.query.model`, "gpt"},
		{PhaseRequestHeaders, `request.query.tag`, "a"},
		{PhaseRequestHeaders, `request.query.size()`, int64(2)},
		{PhaseRequestHeaders, `source.address`, "10.1.2.3"},
		{PhaseRequestHeaders, `source.port`, int64(50000)},
		{PhaseRequestHeaders, `cidr("10.0.0.0/8").containsIP(ip(source.address))`, true},
		{PhaseRequestHeaders, `has(source.identity)`, false},
		{PhaseRequestHeaders, `jwt.sub + "@" + jwt.iss`, "alice@https://idp"},
		{PhaseRequestHeaders, `jwt.aud`, []any{"api", "web"}},
		{PhaseRequestHeaders, `jwt.claims.groups.exists(g, g == "admin")`, true},
		{PhaseRequestHeaders, `"reader" in jwt.claims.realm_access.roles`, true},
		{PhaseRequestHeaders, `int(jwt.claims.exp)`, int64(1700000000)},
		{PhaseRequestHeaders, `apiKey.metadata.team`, "payments"},
		{PhaseRequestHeaders, `backend.name + "/" + backend.protocol`, "llm/http2"},
		{PhaseRequestHeaders, `extauthz.headers["x-authz-user"]`, "bob"},
		{PhaseRequestHeaders, `extauthz.metadata.tier`, "gold"},
		{PhaseRequestHeaders, `sha256("abc")`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{PhaseRequestHeaders, `base64.encode(bytes(jwt.sub))`, "YWxpY2U="},
		{PhaseRequestHeaders, `"ÄB".lower() + "ä".upper()`, "äbÄ"},
		{PhaseRequestHeaders, `regex.replace(request.path, "^/v1", "/v2")`, "/v2/chat%2Fx"},
		{PhaseRequestHeaders, `toJson({"b": [1, 2.5, true, null], "a": jwt.sub})`, `{"a":"alice","b":[1,2.5,true,null]}`},
		{PhaseRequestHeaders, `jsonParse('{"n": 3, "f": 1.5}').n == 3`, true},
		{PhaseRequestHeaders, `toJson(request.headers["x-user"])`, `"alice"`},
		{PhaseRequestHeaders, `request.headers == {"x-user": "alice", "accept": "text/html, application/json", "x-raw": "not canonical"}`, true},
		{PhaseRequestHeaders, `random() >= 0.0 && random() < 1.0`, true},
		{PhaseAccessLog, `{"code": response.code, "path": request.path}`, map[string]any{"code": int64(0), "path": "/v1/chat%2Fx"}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			p := mustCompile(t, tc.phase, KindAny, tc.expr)
			got, err := p.Eval(ctx, act)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestEvalTyped(t *testing.T) {
	ctx := context.Background()
	act := testActivation()

	ok, err := mustCompile(t, PhaseAuthorization, KindCondition,
		`jwt.claims.groups.exists(g, g == "admin") && request.method in ["GET", "POST"] && request.path.startsWith("/v1/")`).EvalBool(ctx, act)
	if err != nil || !ok {
		t.Errorf("EvalBool = %v, %v; want true", ok, err)
	}

	s, err := mustCompile(t, PhaseRequestHeaders, KindHeaderValue, `"Bearer " + request.headers["x-user"]`).EvalString(ctx, act)
	if err != nil || s != "Bearer alice" {
		t.Errorf("EvalString = %q, %v", s, err)
	}

	// A dyn result of the wrong type fails at run time with a clear error.
	p, issues := Check(PhaseRequestHeaders, KindHeaderValue, `jwt.claims.groups`)
	if p == nil {
		t.Fatalf("Check: %v", issues)
	}
	if _, err := p.EvalString(ctx, act); err == nil || err.Error() != "expression returned list, want string" {
		t.Errorf("EvalString of a list: %v", err)
	}

	act.Request.Body = []byte(`{"model":"gpt-4","messages":[{"role":"system"}]}`)
	b, err := mustCompile(t, PhaseRequestBody, KindBody, `toJson({"model": jsonParse(request.body).model, "n": jsonParse(request.body).messages.size()})`).EvalBytes(ctx, act)
	if err != nil || string(b) != `{"model":"gpt-4","n":1}` {
		t.Errorf("EvalBytes = %s, %v", b, err)
	}
	b, err = mustCompile(t, PhaseRequestBody, KindBody, `request.body`).EvalBytes(ctx, act)
	if err != nil || string(b) != string(act.Request.Body) {
		t.Errorf("EvalBytes(request.body) = %s, %v", b, err)
	}

	act.Request.Body = make([]byte, MaxBodyBytes+1)
	_, err = mustCompile(t, PhaseRequestBody, KindBody, `request.body`).EvalBytes(ctx, act)
	if err == nil || err.Error() != "body is 65537 bytes: CEL reads at most 65536" {
		t.Errorf("oversized body: %v", err)
	}

	// Missing header: a runtime error, not a panic or an empty value.
	_, err = mustCompile(t, PhaseRequestHeaders, KindHeaderValue, `request.headers["nope"]`).EvalString(ctx, act)
	if err == nil || err.Error() != "no such key: nope" {
		t.Errorf("missing key: %v", err)
	}
}

func TestEvalEmptyActivation(t *testing.T) {
	ctx := context.Background()
	for _, expr := range []string{
		`!has(jwt.sub) && jwt.claims.size() == 0 && jwt.aud.size() == 0`,
		`request.method == "" && request.headers.size() == 0 && request.query.size() == 0`,
		`response.code == 0 && !has(response.body) && source.port == 0 && apiKey.name == ""`,
	} {
		for _, act := range []*Activation{nil, {}} {
			ok, err := mustCompile(t, PhaseResponse, KindCondition, expr).EvalBool(ctx, act)
			if err != nil || !ok {
				t.Errorf("%s on %v = %v, %v", expr, act, ok, err)
			}
		}
	}
}

func TestUUID(t *testing.T) {
	p := mustCompile(t, PhaseRequestHeaders, KindHeaderValue, `uuid()`)
	a, err := p.EvalString(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.EvalString(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) || a == b {
		t.Errorf("uuid() = %q, %q", a, b)
	}
}

func TestRuntimeCostLimit(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for i := range 100 {
		r.Header.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	act := &Activation{Request: RequestFromHTTP(r)}
	expr := `request.headers.all(a, request.headers.all(b, a != "" && b != ""))`
	// Off by default.
	if _, err := mustCompile(t, PhaseRequestHeaders, KindCondition, expr).EvalBool(context.Background(), act); err != nil {
		t.Fatal(err)
	}
	limits := DefaultLimits
	limits.MaxRuntimeCost = 10_000
	p, issues := CheckWithLimits(PhaseRequestHeaders, KindCondition, expr, limits)
	if p == nil {
		t.Fatal(issues)
	}
	_, err := p.EvalBool(context.Background(), act)
	if err == nil || err.Error() != "operation cancelled: actual cost limit exceeded" {
		t.Errorf("got %v, want the cost limit", err)
	}
}

// TestLoopGuard: loops over more entries than the estimate assumed fail,
// lookups still work.
func TestLoopGuard(t *testing.T) {
	u := "/?" + strings.Repeat("q=1&", 0)
	for i := range MaxQueryParams + 1 {
		u += fmt.Sprintf("p%d=%d&", i, i)
	}
	r := httptest.NewRequest("GET", u, nil)
	for i := range MaxHeaders + 1 {
		r.Header.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	act := &Activation{Request: RequestFromHTTP(r)}
	ctx := context.Background()
	for expr, want := range map[string]string{
		`request.headers.exists(k, k == "x-h1")`:                       "cannot loop over 129 headers: at most 128",
		`request.headers.all(k, v, v == "v")`:                          "cannot loop over 129 headers: at most 128",
		`request.headers.all(a, request.headers.all(b, a == b))`:       "cannot loop over 129 headers: at most 128",
		`request.query.exists(k, k == "p1")`:                           "cannot loop over 65 query parameters: at most 64",
		`request.headers["x-h5"] == "v" && request.query["p3"] == "3"`: "",
	} {
		_, err := mustCompile(t, PhaseRequestHeaders, KindCondition, expr).EvalBool(ctx, act)
		if (err == nil && want != "") || (err != nil && err.Error() != want) {
			t.Errorf("%s: got %v, want %q", expr, err, want)
		}
	}
}

func TestContextCancel(t *testing.T) {
	p, issues := CheckWithLimits(PhaseRequestHeaders, KindCondition, `lists.range(100000).all(i, lists.range(100).all(j, i + j >= 0))`, Limits{MaxLength: 4096})
	if p == nil {
		t.Fatal(issues)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := p.EvalBool(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("got %v, want interrupted", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestConcurrentEval(t *testing.T) {
	p := mustCompile(t, PhaseRequestHeaders, KindHeaderValue, `request.headers["x-user"] + ":" + request.query.model + ":" + jwt.claims.groups.join(",")`)
	act := testActivation()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				s, err := p.EvalString(context.Background(), act)
				if err != nil || s != "alice:gpt:dev,admin" {
					t.Errorf("got %q, %v", s, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRequestFromHTTP(t *testing.T) {
	r := httptest.NewRequest("GET", "http://[::1]:8080/a%20b?x=1", nil)
	req := RequestFromHTTP(r)
	want := &Request{Method: "GET", Path: "/a%20b", Host: "[::1]", Scheme: "http", URI: "/a%20b?x=1", Protocol: "HTTP/1.1", Headers: r.Header, RawQuery: "x=1"}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v\nwant %+v", req, want)
	}
	// The headers are shared, not copied.
	r.Header.Set("X-Late", "1")
	if _, ok := req.Headers["X-Late"]; !ok {
		t.Error("headers were copied")
	}
	// Client-side requests have no RequestURI.
	r2, err := http.NewRequest("GET", "http://h/p?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := RequestFromHTTP(r2); got.URI != "/p?q=1" || got.Host != "h" {
		t.Errorf("client request: %+v", got)
	}
	// Query given explicitly wins over RawQuery.
	req.Query = url.Values{"y": {"2"}}
	v, err := mustCompile(t, PhaseRequestHeaders, KindAny, `request.query`).Eval(context.Background(), &Activation{Request: req})
	if err != nil || !reflect.DeepEqual(v, map[string]any{"y": "2"}) {
		t.Errorf("query = %v, %v", v, err)
	}
}

func TestSourceFromHTTPWithClientCert(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spiffe, err := url.Parse("spiffe://cluster.local/ns/default/sa/client")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"client.default.svc"},
		URIs:         []*url.URL{spiffe},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://h/", nil)
	r.RemoteAddr = "[fd00::1]:443"

	// Presented but not verified: no identity.
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if s := SourceFromHTTP(r); s.Identity != "" || s.SANs != nil {
		t.Errorf("unverified cert gave identity %+v", s)
	}

	r.TLS.VerifiedChains = [][]*x509.Certificate{{cert}}
	s := SourceFromHTTP(r)
	want := &Source{Address: "fd00::1", Port: 443, Identity: spiffe.String(), SANs: []string{"client.default.svc", spiffe.String()}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v, want %+v", s, want)
	}
	ok, err := mustCompile(t, PhaseAuthorization, KindCondition,
		`source.identity.startsWith("spiffe://cluster.local/ns/default/") && "client.default.svc" in source.sans && request.scheme == "https"`).
		EvalBool(context.Background(), &Activation{Request: RequestFromHTTP(r), Source: s})
	if err != nil || !ok {
		t.Errorf("mTLS rule = %v, %v", ok, err)
	}
}
