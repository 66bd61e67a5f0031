package configstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// pki is a CA, its certificate in a file (as mounted in a proxy pod) and a serving
// certificate for 127.0.0.1 signed by it.
type pki struct {
	ca      *streamcert.CA
	caFile  string
	serving *streamcert.Serving
}

func newPKI(dir, name string) (*pki, error) {
	ca, err := streamcert.NewCA(name, time.Hour)
	if err != nil {
		return nil, err
	}
	f := filepath.Join(dir, name+".crt")
	if err := os.WriteFile(f, ca.CertPEM, 0o600); err != nil {
		return nil, err
	}
	s := &streamcert.Serving{CA: ca, Hosts: []string{"127.0.0.1"}, Lifetime: time.Hour}
	if err := s.Renew(); err != nil {
		return nil, err
	}
	return &pki{ca: ca, caFile: f, serving: s}, nil
}

// testPKI is what every test server serves and every test client trusts.
var testPKI *pki

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "configstream-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPKI, err = newPKI(dir, "test-ca")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// syncBuffer is a log destination tests wait on while the client writes.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{written: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.written <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

// waitFor waits until ok accepts what was written.
func (s *syncBuffer) waitFor(t *testing.T, ok func(string) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		l := s.b.String()
		s.mu.Unlock()
		if ok(l) {
			return
		}
		select {
		case <-s.written:
		case <-timeout:
			t.Fatalf("timed out; log so far:\n%s", l)
		}
	}
}

func poolOf(t *testing.T, ca *streamcert.CA) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM does not parse")
	}
	return p
}

func TestTLSGoodCertificateAccepted(t *testing.T) {
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	mustSet(t, snaps, gw, c1)
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &applier{}
	runClient(t, client(ts.addr, "good-gw"), a)
	ts.rec.waitFor(t, "acked "+c1.Version)
}

// TestTLSImpostorRefused: a server on the right address with a certificate from another CA
// never receives the proxy's token nor sends it a config; the proxy logs why.
func TestTLSImpostorRefused(t *testing.T) {
	other, err := newPKI(t.TempDir(), "impostor-ca")
	if err != nil {
		t.Fatal(err)
	}
	snaps := NewSnapshots()
	mustSet(t, snaps, gw, cfg(t, 8080))
	ts := startServerWith(t, "127.0.0.1:0", snaps, other.serving)

	logs := newSyncBuffer()
	ended := make(chan error, 100)
	c := client(ts.addr, "good-gw")
	c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	c.StreamEnded = func(err error) { ended <- err }
	a := &applier{}
	runClient(t, c, a)
	for i := 0; i < 2; i++ { // refused again on the retry
		select {
		case err := <-ended:
			if err == nil || !strings.Contains(err.Error(), "config server "+ts.addr+" refused") || !strings.Contains(err.Error(), "not signed by the CA in "+testPKI.caFile) {
				t.Fatalf("stream ended with %v, want a certificate from an unknown authority", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the impostor's stream was not refused")
		}
	}
	if got := a.list(); len(got) != 0 {
		t.Fatalf("applied %v from an impostor", got)
	}
	if n := ts.rec.count("connected"); n != 0 {
		t.Fatalf("the impostor saw %d authenticated proxies", n)
	}
	logs.waitFor(t, func(l string) bool {
		return strings.Contains(l, "level=WARN") && strings.Contains(l, "unknown authority") && strings.Contains(l, ts.addr)
	})
}

// TestTLSNameMustMatch: a certificate from the right CA for another name is refused too
// (the name verified is the host of the address the proxy dials).
func TestTLSNameMustMatch(t *testing.T) {
	snaps := NewSnapshots()
	mustSet(t, snaps, gw, cfg(t, 8080))
	ts := startServer(t, "127.0.0.1:0", snaps)
	ended := make(chan error, 100)
	c := client(ts.addr, "good-gw")
	c.ServerName = "agentgateway-xds.agentgateway-system.svc"
	c.StreamEnded = func(err error) { ended <- err }
	runClient(t, c, &applier{})
	select {
	case err := <-ended:
		if err == nil || !strings.Contains(err.Error(), "not valid for agentgateway-xds.agentgateway-system.svc") {
			t.Fatalf("stream ended with %v, want a name mismatch", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a certificate for another name was accepted")
	}
}

func TestTLSClientNeedsCA(t *testing.T) {
	c := client("127.0.0.1:1", "good-gw")
	c.CAFile = ""
	err := c.Run(context.Background(), (&applier{}).apply)
	if err == nil || !strings.Contains(err.Error(), "CAFile is required") {
		t.Fatalf("Run without a CA: %v", err)
	}
}

// TestTLSRotation: a renewed serving certificate is served to new connections while the
// established stream keeps going; a new proxy connects with it.
func TestTLSRotation(t *testing.T) {
	p, err := newPKI(t.TempDir(), "rotating-ca")
	if err != nil {
		t.Fatal(err)
	}
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	mustSet(t, snaps, gw, c1)
	ts := startServerWith(t, "127.0.0.1:0", snaps, p.serving)
	first := p.serving.Current()

	ended := make(chan error, 10)
	c := client(ts.addr, "good-gw")
	c.CAFile = p.caFile
	c.StreamEnded = func(err error) { ended <- err }
	a := &applier{}
	runClient(t, c, a)
	ts.rec.waitFor(t, "acked "+c1.Version)

	if err := p.serving.Renew(); err != nil {
		t.Fatal(err)
	}
	second := p.serving.Current()
	if bytes.Equal(first.Certificate[0], second.Certificate[0]) {
		t.Fatal("Renew kept the certificate")
	}
	// The established stream still carries new versions.
	c2 := cfg(t, 9090)
	mustSet(t, snaps, gw, c2)
	ts.rec.waitFor(t, "acked "+c2.Version)

	// A new connection is served the new certificate.
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: poolOf(t, p.ca), ServerName: "127.0.0.1", NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	got := conn.ConnectionState().PeerCertificates[0].Raw
	conn.Close()
	if !bytes.Equal(got, second.Certificate[0]) {
		t.Fatal("a new connection was not served the renewed certificate")
	}
	// And a new proxy dials and streams with it.
	c3 := client(ts.addr, "good-gw")
	c3.Node.Pod = "gw-new"
	c3.CAFile = p.caFile
	runClient(t, c3, &applier{})
	ts.rec.waitFor(t, "connected gw-new running=")

	select {
	case err := <-ended:
		t.Fatalf("the established stream ended on rotation: %v", err)
	default:
	}
}

// TestTLSCARotation: the operator's CA rotates. The proxy's CA file (the mounted
// ConfigMap) first gains the next CA beside the current one; then the server's
// certificates are signed by the next CA. The stream established under the first CA keeps
// going; a proxy dialling afresh with the bundle connects to the new certificate; once the
// first CA is dropped from the bundle, a proxy that trusts only it is refused.
func TestTLSCARotation(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir, "ca-1")
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := streamcert.NewCA("ca-2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	mustSet(t, snaps, gw, c1)
	ts := startServerWith(t, "127.0.0.1:0", snaps, p.serving)

	// The proxy's mounted CA file, replaced as the kubelet does (a new file renamed over).
	bundleFile := filepath.Join(dir, "bundle.crt")
	writeBundle := func(cas ...*streamcert.CA) {
		t.Helper()
		var pem []byte
		for _, ca := range cas {
			pem = append(pem, ca.CertPEM...)
		}
		tmp := bundleFile + ".tmp"
		if err := os.WriteFile(tmp, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bundleFile); err != nil {
			t.Fatal(err)
		}
	}
	writeBundle(p.ca)

	started, ended := make(chan struct{}, 10), make(chan error, 10)
	c := client(ts.addr, "good-gw")
	c.CAFile = bundleFile
	c.StreamStarted = func() { started <- struct{}{} }
	c.StreamEnded = func(err error) { ended <- err }
	runClient(t, c, &applier{})
	ts.rec.waitFor(t, "acked "+c1.Version)

	// Publish the bundle, then sign with the next CA.
	writeBundle(p.ca, ca2)
	if err := p.serving.SetCA(ca2); err != nil {
		t.Fatal(err)
	}
	if _, err := p.serving.Current().Leaf.Verify(x509.VerifyOptions{Roots: poolOf(t, ca2), DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("the server's certificate after SetCA: %v", err)
	}
	// The established stream still carries new versions.
	c2 := cfg(t, 9090)
	mustSet(t, snaps, gw, c2)
	ts.rec.waitFor(t, "acked "+c2.Version)

	// A new proxy with the bundle connects to the certificate of the next CA.
	fresh := client(ts.addr, "good-gw")
	fresh.Node.Pod = "gw-bundle"
	fresh.CAFile = bundleFile
	runClient(t, fresh, &applier{})
	ts.rec.waitFor(t, "connected gw-bundle running=")

	// The first CA is dropped: a proxy trusting only it is refused; the bundle still works.
	writeBundle(ca2)
	if _, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: poolOf(t, p.ca), ServerName: "127.0.0.1", NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13}); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("a dial trusting only the first CA: %v, want an unknown authority", err)
	}
	onlyFirst := filepath.Join(dir, "ca-1.crt")
	oldEnded := make(chan error, 10)
	old := client(ts.addr, "good-gw")
	old.Node.Pod = "gw-old"
	old.CAFile = onlyFirst
	old.StreamEnded = func(err error) { oldEnded <- err }
	runClient(t, old, &applier{})
	select {
	case err := <-oldEnded:
		if err == nil || !strings.Contains(err.Error(), "not signed by the CA in "+onlyFirst) {
			t.Fatalf("proxy trusting only the first CA: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a proxy trusting only the dropped CA was not refused")
	}
	again := client(ts.addr, "good-gw")
	again.Node.Pod = "gw-after"
	again.CAFile = bundleFile
	runClient(t, again, &applier{})
	ts.rec.waitFor(t, "connected gw-after running=")

	if n := len(started); n != 1 {
		t.Fatalf("the first proxy's stream started %d times, want once", n)
	}
	select {
	case err := <-ended:
		t.Fatalf("the established stream ended on rotation: %v", err)
	default:
	}
}
