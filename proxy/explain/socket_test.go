package explain_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/admin"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
	"github.com/agentgateway/agentgateway-go/proxy/explain"
)

// TestDebugExplainMatchesTraffic runs a proxy with the test config on a real socket and
// its admin handler, asks /debug/explain about requests, sends the same requests through
// the proxy, and checks that the answer says what happened: the backend (route and rule)
// reached, the 401 of the JWT policy, the headers the transformation and the filter added.
func TestDebugExplainMatchesTraffic(t *testing.T) {
	backend := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			w.Header().Set("X-Got-User", r.Header.Get("X-User"))
			w.Header().Set("X-Got-Route", r.Header.Get("X-Route"))
			w.Header().Set("X-Got-Path", r.URL.RequestURI())
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := backend("a"), backend("b")
	s := newSigner(t)
	port := freePort(t)
	c := testConfig(port, s.jwks(), a.Listener.Addr().String(), b.Listener.Addr().String())
	// The stable rule's invalid backendRef would answer a share of requests 500 at random.
	stable := &c.Binds[0].Listeners[1].HTTPRoutes[1].Rules[0]
	stable.BackendRefs = stable.BackendRefs[:1]

	rt := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	if err := rt.Apply(c); err != nil {
		t.Fatal(err)
	}
	adm := httptest.NewServer(admin.New(rt, prometheus.NewRegistry()))
	t.Cleanup(adm.Close)

	tok := s.token(t, map[string]any{"iss": issuer, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name    string
		host    string
		path    string
		headers map[string]string
		// want is the backend that answers, or "" when the proxy does.
		want string
	}{
		{"header match with a token", "www.example.com", "/api/items?x=1", map[string]string{"X-Env": "canary", "Authorization": "Bearer " + tok}, "b"},
		{"header match without a token", "www.example.com", "/api/items", map[string]string{"X-Env": "canary"}, ""},
		{"other header value", "www.example.com", "/api/items", map[string]string{"X-Env": "prod"}, "a"},
		{"no header", "WWW.example.com", "/", nil, "a"},
		{"listener without routes", "other.example.org", "/", nil, ""},
		{"no listener", "nowhere.net", "/", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"host": {tc.host}, "path": {tc.path}, "port": {strconv.Itoa(port)}}
			for k, v := range tc.headers {
				q.Add("header", k+":"+v)
			}
			ex := getExplain(t, adm.URL+"/debug/explain?"+q.Encode())

			req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			got := resp.Header.Get("X-Backend")
			if got != tc.want {
				t.Fatalf("the request reached backend %q (status %d), want %q", got, resp.StatusCode, tc.want)
			}
			if got == "" {
				// The proxy answered: explain must say so, with that status.
				if ex.Outcome.Action == "proxy" || ex.Outcome.Status != resp.StatusCode {
					t.Errorf("explain says %+v; the proxy answered %d", ex.Outcome, resp.StatusCode)
				}
				return
			}
			if ex.Outcome.Action != "proxy" || ex.Route == nil || len(ex.Backends) != 1 || ex.Backends[0].Backend != got {
				t.Fatalf("explain says %+v route %+v backends %+v; the request reached backend %s", ex.Outcome, ex.Route, ex.Backends, got)
			}
			// The headers and path the backend got are the ones explain predicts.
			want := map[string]string{}
			for _, h := range ex.Upstream.Headers {
				want[h.Name] = strings.Join(h.Value, ",")
			}
			for _, name := range []string{"X-User", "X-Route"} {
				if g := resp.Header.Get("X-Got-" + strings.TrimPrefix(name, "X-")); g != want[name] {
					t.Errorf("backend got %s %q, explain says %q", name, g, want[name])
				}
			}
			if g := resp.Header.Get("X-Got-Path"); g != ex.Upstream.Path {
				t.Errorf("backend got path %q, explain says %q", g, ex.Upstream.Path)
			}
		})
	}

	// Bad queries are 400s, not explanations.
	for _, q := range []string{"header=nocolon", "port=0", "port=" + strconv.Itoa(port+1) + "&host=a.example.com"} {
		resp, err := http.Get(adm.URL + "/debug/explain?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func getExplain(t *testing.T, u string) *explain.Explanation {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %d %s", u, resp.StatusCode, body)
	}
	var ex explain.Explanation
	if err := json.Unmarshal(body, &ex); err != nil {
		t.Fatal(err)
	}
	return &ex
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
