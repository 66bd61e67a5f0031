package translate_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// TestFieldsFrontendLimits: frontend.http.maxRequestHeadersKB answers larger heads 431,
// frontend.http.requestHeaderTimeout and idleTimeout close connections, and
// frontend.tls.cipherSuites refuses a TLS 1.2 client offering only another suite, from the
// policy on the Gateway to the proxy's sockets.
func TestFieldsFrontendLimits(t *testing.T) {
	ca := testcerts.NewCA("fields-ca")
	leaf := ca.Issue("www.example.com") // ECDSA
	_, echoPort := startEcho(t, "echo", "127.0.0.1:0")
	s := serve(t, gatewayBase+httpsListener+echoRoute+`
policies:
- metadata: {name: frontend, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
    frontend:
      tls: {cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]}
      http: {maxRequestHeadersKB: 1, requestHeaderTimeout: 300ms, idleTimeout: 300ms}
`, map[string]string{"port": echoPort}, tlsSecret(leaf))

	if r := send(t, client, "GET", s.url(80, "/"), "X-Big", strings.Repeat("a", 512)); r.code != 200 {
		t.Errorf("a head within maxRequestHeadersKB: %d", r.code)
	}
	// net/http allows 4 KiB of buffer slack over the limit.
	if r := send(t, client, "GET", s.url(80, "/"), "X-Big", strings.Repeat("a", 16<<10)); r.code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 16 KiB head with maxRequestHeadersKB 1: %d, want 431", r.code)
	}

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.ports[80]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	closedWithin := func(c net.Conn, br *bufio.Reader, d time.Duration) bool {
		if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
			t.Fatal(err)
		}
		_, err := br.ReadByte()
		return err == io.EOF
	}
	c, br := dial()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(c, br, 3*time.Second) {
		t.Error("requestHeaderTimeout 300ms: an unfinished head was not cut within 3s")
	}
	c, br = dial()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !closedWithin(c, br, 3*time.Second) {
		t.Error("idleTimeout 300ms: an idle connection was not closed within 3s")
	}

	addr := fmt.Sprintf("127.0.0.1:%d", s.ports[443])
	handshake := func(suite uint16) error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "www.example.com", MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			conn.Close()
		}
		return err
	}
	if handshake(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) == nil {
		t.Error("cipherSuites: a TLS 1.2 client offering only an unlisted suite was accepted")
	}
	if err := handshake(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384); err != nil {
		t.Errorf("cipherSuites: a TLS 1.2 client offering the listed suite: %v", err)
	}
}
