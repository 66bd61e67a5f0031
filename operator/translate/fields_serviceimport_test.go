package translate_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
)

// The test of this file takes multicluster.x-k8s.io ServiceImport backends (GEP-1748) from
// the API objects to the wire for TCPRoutes, UDPRoutes and TLSRoutes, and for a
// BackendTLSPolicy whose targetRef is a ServiceImport: the proxy reaches loopback servers
// known only as endpoints of EndpointSlices labelled multicluster.kubernetes.io/service-name
// (no Service exists).

// startLineEcho starts a TCP server on loopback that answers each line with prefix+line,
// over TLS with leaf when it is set.
func startLineEcho(t *testing.T, prefix string, leaf *testcerts.Leaf) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if leaf != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := fmt.Fprintf(c, "%s%s\n", prefix, sc.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
	return portOf(t, ln.Addr().String())
}

// startUDPEcho starts a UDP server on loopback that answers each datagram with
// prefix+datagram.
func startUDPEcho(t *testing.T, prefix string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(append([]byte(prefix), buf[:n]...), from); err != nil {
				return
			}
		}
	}()
	return portOf(t, pc.LocalAddr().String())
}

// lineRoundTrip writes one line on c and reads the answer line.
func lineRoundTrip(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read answer to %q: %v", line, err)
	}
	return strings.TrimSuffix(got, "\n")
}

// TestFieldsServiceImportL4AndBackendTLS: a TCPRoute, a UDPRoute and a TLSRoute
// (passthrough) whose backendRefs are ServiceImports reach their loopback servers over real
// sockets, and an HTTPRoute to a ServiceImport reaches an HTTPS backend through a
// BackendTLSPolicy that targets the ServiceImport (200; the same backend without the
// policy, through another ServiceImport, gets plaintext and answers 400).
func TestFieldsServiceImportL4AndBackendTLS(t *testing.T) {
	ca := testcerts.NewCA("import-ca")
	tcpPort := startLineEcho(t, "tcp:", nil)
	tlsPort := startLineEcho(t, "tls:", ca.Issue("tls.example"))
	udpPort := startUDPEcho(t, "udp:")
	https := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "secure") }))
	https.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue("secure.example").TLS}}
	https.Config.ErrorLog = log.New(io.Discard, "", 0) // the plaintext request is refused on purpose
	https.StartTLS()
	t.Cleanup(https.Close)
	httpsPort := serverPort(t, https)

	imp := func(name, portName string, port int, proto string) string {
		return fmt.Sprintf(`- metadata: {name: %s, namespace: default}
  spec: {type: ClusterSetIP, ports: [{name: %s, port: %d, protocol: %s}]}
`, name, portName, port, proto)
	}
	slice := func(name, portName, proto, target string) string {
		return fmt.Sprintf(`- metadata: {name: %s-cluster-a, namespace: default, labels: {multicluster.kubernetes.io/service-name: %s}}
  addressType: IPv4
  ports: [{name: %s, port: %s, protocol: %s}]
  endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
`, name, name, portName, target, proto)
	}
	ref := func(name string, port int) string {
		return fmt.Sprintf("[{group: multicluster.x-k8s.io, kind: ServiceImport, name: %s, port: %d}]", name, port)
	}
	s := serve(t, `
gatewayClasses:
- metadata: {name: agentgateway, generation: 1}
  spec: {controllerName: agentgateway.dev/agentgateway}
gateways:
- metadata: {name: gw, namespace: default, generation: 1}
  spec:
    gatewayClassName: agentgateway
    listeners:
    - {name: http, port: 80, protocol: HTTP}
    - {name: tcp, port: 9000, protocol: TCP}
    - {name: udp, port: 9001, protocol: UDP}
    - {name: tls, port: 9443, protocol: TLS, hostname: tls.example, tls: {mode: Passthrough}}
httpRoutes:
- metadata: {name: web, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw, sectionName: http}]
    rules:
    - matches: [{path: {value: /secure}}]
      backendRefs: `+ref("secure", 443)+`
    - matches: [{path: {value: /no-policy}}]
      backendRefs: `+ref("no-policy", 443)+`
tcpRoutes:
- metadata: {name: tcp, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw, sectionName: tcp}]
    rules: [{backendRefs: `+ref("raw-tcp", 9000)+`}]
udpRoutes:
- metadata: {name: udp, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw, sectionName: udp}]
    rules: [{backendRefs: `+ref("raw-udp", 9001)+`}]
tlsRoutes:
- metadata: {name: tls, namespace: default, generation: 1}
  spec:
    parentRefs: [{name: gw, sectionName: tls}]
    hostnames: [tls.example]
    rules: [{backendRefs: `+ref("passthrough", 443)+`}]
backendTLSPolicies:
- metadata: {name: secure, namespace: default, generation: 1}
  spec:
    targetRefs: [{group: multicluster.x-k8s.io, kind: ServiceImport, name: secure, sectionName: https}]
    validation:
      hostname: secure.example
      caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]
configMaps:
- metadata: {name: ca, namespace: default}
  data: {ca.crt: `+fmt.Sprintf("%q", ca.CertPEM)+`}
serviceImports:
`+imp("secure", "https", 443, "TCP")+imp("no-policy", "https", 443, "TCP")+
		imp("raw-tcp", "tcp", 9000, "TCP")+imp("raw-udp", "udp", 9001, "UDP")+imp("passthrough", "tls", 443, "TCP")+`
endpointSlices:
`+slice("secure", "https", "TCP", httpsPort)+slice("no-policy", "https", "TCP", httpsPort)+
		slice("raw-tcp", "tcp", "TCP", tcpPort)+slice("raw-udp", "udp", "UDP", udpPort)+slice("passthrough", "tls", "TCP", tlsPort), nil)

	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/secure", "secure", http.StatusOK},
		// Plaintext to the HTTPS server, which says so.
		{"/no-policy", "Client sent an HTTP request to an HTTPS server.\n", http.StatusBadRequest},
	} {
		r := send(t, client, "GET", s.url(80, c.path))
		if r.code != c.code || (c.body != "" && r.body != c.body) {
			t.Errorf("%s: %d %q; want %d %q", c.path, r.code, r.body, c.code, c.body)
		}
	}

	tc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.ports[9000]))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got := lineRoundTrip(t, tc, "hello"); got != "tcp:hello" {
		t.Errorf("TCPRoute to a ServiceImport: %q; want tcp:hello", got)
	}

	tlc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.ports[9443]), &tls.Config{ServerName: "tls.example", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("TLSRoute to a ServiceImport: handshake through the passthrough listener: %v", err)
	}
	defer tlc.Close()
	if got := lineRoundTrip(t, tlc, "hello"); got != "tls:hello" {
		t.Errorf("TLSRoute to a ServiceImport: %q; want tls:hello", got)
	}

	uc, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", s.ports[9001]))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if err := uc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := uc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := uc.Read(buf)
	if err != nil || string(buf[:n]) != "udp:hello" {
		t.Errorf("UDPRoute to a ServiceImport: %q %v; want udp:hello", buf[:n], err)
	}
}
