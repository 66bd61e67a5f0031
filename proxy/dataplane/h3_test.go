package dataplane

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

func TestHTTP3SharesRouting(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("h3-ca")
	leaf := ca.Issue("h3.example.com")
	port := freePort(t)
	rt := newRuntime(t)
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{{Name: "https", Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, HTTP3: true, Listeners: []config.Listener{{
			Name: "l", Hostname: "h3.example.com", Protocol: config.ProtocolHTTPS,
			TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
			HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{BackendRefs: to("a")})},
		}}}},
		Backends: []config.Backend{be("a", a.addr)},
	})
	// HTTPS over TCP announces HTTP/3.
	r := get(t, tlsClient(ca, port, false), "https://h3.example.com/x", "")
	if r.code != 200 || r.header.Get("Alt-Svc") == "" {
		t.Fatalf("https: %d alt-svc %q", r.code, r.header.Get("Alt-Svc"))
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "h3.example.com"}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/h3", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "h3.example.com"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 3 || resp.Header.Get("X-Backend") != "a" {
		t.Fatalf("h3: %d %s %s", resp.StatusCode, resp.Proto, body)
	}
}
