package localcluster_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

const streamTLSNS = "streamtls"

// TestConfigStreamEncrypted captures everything on the cluster bridge while a Gateway whose
// config carries a TLS private key and an API key is created and programmed, and checks that
// neither secret crosses the bridge in the clear: the config stream between the operator
// and its proxy is TLS. The same capture shows the stream was there (the proxy's TLS
// ClientHello names the operator's Service), and traffic afterwards proves the proxy did
// receive both secrets. Then a proxy given another CA refuses the operator's stream.
func TestConfigStreamEncrypted(t *testing.T) {
	c := clustertest.Require(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatalf("tcpdump is needed to capture the bridge (hack/install-deps.sh installs it): %v", err)
	}
	k := kctl{kubeconfig: c.Kubeconfig}
	installAgentgateway(t, k)
	freshNamespace(t, k, streamTLSNS)

	// The secrets: an API key and a TLS key whose PEM lines are searched for.
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	apiKey := "agw-marker-apikey-" + hex.EncodeToString(rnd[:])
	ca, err := streamcert.NewCA("streamtls-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"secure.streamtls.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	keyLines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	keyMarker := keyLines[1] // 64 base64 characters of the key
	if len(keyMarker) < 40 {
		t.Fatalf("key PEM line %q too short to be a marker", keyMarker)
	}

	capture := filepath.Join(t.TempDir(), "bridge.pcap")
	stop := startCapture(t, capture)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	k.applyYAML(t, streamTLSManifest(t, apiKey, certPEM, keyPEM))
	k.must(t, "-n", streamTLSNS, "wait", "--for=condition=Programmed", "gateway/secure", "--timeout=300s")
	stop()
	stopped = true

	data, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := tcpStreams(data)
	if err != nil {
		t.Fatalf("read capture: %v", err)
	}
	t.Logf("captured %d bytes, %d TCP streams on %s while the Gateway was programmed", len(data), len(streams), localcluster.Bridge)
	// The capture holds the config stream: a connection to port 9977 whose ClientHello names
	// the operator's Service, and whose other direction carried the config.
	var streamBytes int
	for key, b := range streams {
		if strings.HasSuffix(key, ":9977") && bytes.Contains(b, []byte("agentgateway-xds.agentgateway-system.svc")) {
			streamBytes += len(streams[reverse(key)])
		}
	}
	if streamBytes < 1000 {
		t.Fatalf("the capture has no config stream (a TLS connection to agentgateway-xds:9977 with the config coming back; %d bytes): the test would prove nothing", streamBytes)
	}
	t.Logf("the operator sent %d bytes on config streams", streamBytes)
	// Neither secret is anywhere: not in a reassembled TCP stream, not in the raw capture.
	for name, marker := range map[string]string{"API key": apiKey, "TLS private key": keyMarker} {
		if bytes.Contains(data, []byte(marker)) {
			t.Errorf("the %s crossed the bridge in plaintext", name)
		}
		for key, b := range streams {
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("the %s crossed the bridge in plaintext on %s", name, key)
			}
		}
	}
	if t.Failed() {
		return
	}

	// The proxy did receive both: it serves the certificate (it holds its key) and checks
	// the API key. (This traffic is plaintext HTTP with the key: after the capture.)
	addr := strings.TrimSpace(k.must(t, "-n", streamTLSNS, "get", "gateway", "secure", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	gw := newGWClient(addr)
	waitUntil(t, "the API key is checked", 60*time.Second, time.Second, func() error {
		if r, err := gw.do(req{host: "secure.streamtls.example"}); err != nil || r.code != 401 {
			return fmt.Errorf("without a key: %v %v", r, err)
		}
		if r, err := gw.do(req{host: "secure.streamtls.example", header: map[string]string{"authorization": "Bearer " + apiKey}}); err != nil || r.code == 401 {
			return fmt.Errorf("with the key: %v %v", r, err)
		}
		return nil
	})
	waitUntil(t, "the TLS listener serves the certificate", 60*time.Second, time.Second, func() error {
		conn, err := tls.Dial("tcp", addr+":443", &tls.Config{ServerName: "secure.streamtls.example", InsecureSkipVerify: true}) //nolint:gosec // compared by hand below
		if err != nil {
			return err
		}
		defer conn.Close()
		if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, cert.Certificate[0]) {
			return fmt.Errorf("served another certificate")
		}
		return nil
	})

	t.Run("wrong CA refused", func(t *testing.T) { testWrongCARefused(t, k) })
}

// testWrongCARefused gives the Gateway's proxy another CA and restarts it: it must refuse the
// operator's stream, say why in its log, and stay unready.
func testWrongCARefused(t *testing.T, k kctl) {
	other, err := streamcert.NewCA("impostor", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cm := "secure-agentgateway-xds-ca"
	patch := fmt.Sprintf(`{"data":{"ca.crt":%q}}`, string(other.CertPEM))
	k.must(t, "-n", streamTLSNS, "patch", "configmap", cm, "--type=merge", "-p", patch)
	k.must(t, "-n", streamTLSNS, "delete", "pod", "-l", "gateway.networking.k8s.io/gateway-name=secure", "--wait=false")
	var logs string
	waitUntil(t, "the restarted proxy refuses the stream", 120*time.Second, 2*time.Second, func() error {
		pods := strings.Fields(k.must(t, "-n", streamTLSNS, "get", "pods", "-l", "gateway.networking.k8s.io/gateway-name=secure",
			"--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"))
		for _, p := range pods {
			out, err := k.run("-n", streamTLSNS, "logs", p)
			if err != nil {
				continue
			}
			if strings.Contains(out, "not signed by the CA") {
				logs = out
				ready := k.must(t, "-n", streamTLSNS, "get", "pod", p, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
				if ready == "True" {
					return fmt.Errorf("pod %s is Ready with a config server it cannot verify", p)
				}
				return nil
			}
		}
		return fmt.Errorf("no running proxy logged a refused certificate yet (pods %v)", pods)
	})
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "not signed by the CA") {
			t.Logf("proxy log: %s", line)
			break
		}
	}
}

// startCapture runs tcpdump on the cluster bridge, writing every packet whole to file, and
// returns once it listens; the returned function stops it and waits for the file to be
// complete.
func startCapture(t *testing.T, file string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// Immediate mode and -U: every packet reaches the file as it is seen, none waits in a
	// kernel buffer block when the capture is stopped.
	cmd := exec.CommandContext(ctx, "tcpdump", "-i", localcluster.Bridge, "-s", "0", "-U", "--immediate-mode", "-n", "-w", file)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start tcpdump: %v", err)
	}
	listening := make(chan struct{})
	var mu sync.Mutex
	var said bytes.Buffer
	saidText := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.TrimSpace(said.String())
	}
	readAll := make(chan struct{})
	go func() {
		defer close(readAll)
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			mu.Lock()
			said.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !closed && strings.Contains(sc.Text(), "listening on") {
				close(listening)
				closed = true
			}
		}
		if !closed {
			close(listening)
		}
	}()
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("tcpdump did not start listening within 30s")
	}
	// The capture works once it holds a packet (the operator's replicas talk to the apiserver
	// on the bridge address every few seconds): only then is the Gateway created.
	waitUntil(t, "tcpdump captures a packet", 30*time.Second, 100*time.Millisecond, func() error {
		fi, err := os.Stat(file)
		if err != nil {
			return err
		}
		if fi.Size() <= 24 { // the pcap file header alone
			return fmt.Errorf("%d bytes; tcpdump said: %s", fi.Size(), saidText())
		}
		return nil
	})
	return func() {
		cancel()
		<-readAll // read stderr to its end before Wait closes the pipe
		err := cmd.Wait()
		t.Logf("tcpdump (%v): %s", err, saidText())
		if _, statErr := os.Stat(file); statErr != nil {
			t.Fatalf("tcpdump wrote no capture (%v): %v\n%s", statErr, err, saidText())
		}
		if out, err := exec.Command("tcpdump", "-r", file, "-n", "-c", "1").CombinedOutput(); err != nil {
			t.Fatalf("capture unreadable: %v\n%s", err, out)
		}
	}
}

// tcpStreams reassembles the TCP payloads of an Ethernet pcap (as tcpdump -w writes it) per
// direction, keyed "srcIP:port>dstIP:port", so that a string split across segments is found.
func tcpStreams(pcap []byte) (map[string][]byte, error) {
	if len(pcap) < 24 {
		return nil, fmt.Errorf("%d bytes: no pcap header", len(pcap))
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(pcap) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a pcap file (magic %x)", pcap[:4])
	}
	if lt := order.Uint32(pcap[20:]); lt != 1 {
		return nil, fmt.Errorf("link type %d, want Ethernet (1)", lt)
	}
	type segment struct {
		seq  uint32
		data []byte
	}
	segs := map[string][]segment{}
	for off := 24; off+16 <= len(pcap); {
		incl := int(order.Uint32(pcap[off+8:]))
		off += 16
		if off+incl > len(pcap) {
			break // cut short when tcpdump stopped
		}
		pkt := pcap[off : off+incl]
		off += incl
		if len(pkt) < 14 {
			continue
		}
		etherType, ip := binary.BigEndian.Uint16(pkt[12:]), pkt[14:]
		if etherType == 0x8100 && len(pkt) >= 18 { // one VLAN tag
			etherType, ip = binary.BigEndian.Uint16(pkt[16:]), pkt[18:]
		}
		if etherType != 0x0800 || len(ip) < 20 || ip[9] != 6 {
			continue
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total > len(ip) || ihl+20 > total {
			continue
		}
		tcp := ip[ihl:total]
		doff := int(tcp[12]>>4) * 4
		if doff > len(tcp) || doff == len(tcp) {
			continue
		}
		key := fmt.Sprintf("%s:%d>%s:%d", net.IP(ip[12:16]), binary.BigEndian.Uint16(tcp[0:]), net.IP(ip[16:20]), binary.BigEndian.Uint16(tcp[2:]))
		segs[key] = append(segs[key], segment{seq: binary.BigEndian.Uint32(tcp[4:]), data: tcp[doff:]})
	}
	out := map[string][]byte{}
	for key, ss := range segs {
		base := ss[0].seq
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].seq-base < ss[j].seq-base })
		var b []byte
		end := ss[0].seq - base
		for _, s := range ss {
			rel := s.seq - base
			switch {
			case rel+uint32(len(s.data)) <= end: // retransmitted
			case rel <= end:
				b = append(b, s.data[end-rel:]...)
				end = rel + uint32(len(s.data))
			default: // a segment the capture missed: keep what follows apart
				b = append(b, 0)
				b = append(b, s.data...)
				end = rel + uint32(len(s.data))
			}
		}
		out[key] = b
	}
	return out, nil
}

// reverse turns "a>b" into "b>a".
func reverse(key string) string {
	a, b, _ := strings.Cut(key, ">")
	return b + ">" + a
}

func streamTLSManifest(t *testing.T, apiKey, certPEM, keyPEM string) string {
	docs := []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + streamTLSNS + "}\n",
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
			"metadata":   map[string]string{"name": "secure-cert", "namespace": streamTLSNS},
			"stringData": map[string]string{"tls.crt": certPEM, "tls.key": keyPEM}}),
		jsonDoc(t, map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]string{"name": "marker-keys", "namespace": streamTLSNS},
			"stringData": map[string]string{"marker": apiKey}}),
		`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: secure, namespace: ` + streamTLSNS + `}
spec:
  gatewayClassName: agentgateway
  listeners:
    - {name: http, protocol: HTTP, port: 80}
    - name: https
      protocol: HTTPS
      port: 443
      hostname: secure.streamtls.example
      tls: {mode: Terminate, certificateRefs: [{name: secure-cert}]}
`,
		`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: secure, namespace: ` + streamTLSNS + `}
spec:
  parentRefs: [{name: secure}]
  hostnames: [secure.streamtls.example]
  rules:
    - backendRefs: [{name: nothing, port: 80}]
`,
		`apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: marker-key, namespace: ` + streamTLSNS + `}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: secure}]
  traffic:
    apiKeyAuthentication:
      secretRefs: [{name: marker-keys}]
`,
	}
	return strings.Join(docs, "---\n")
}
