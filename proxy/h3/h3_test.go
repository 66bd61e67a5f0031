package h3

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// selfSigned returns a server config for "h3.test" and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "h3.test"},
		DNSNames:              []string{"h3.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// echo reports the protocol and echoes the body.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Proto", r.Proto)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
})

func TestServeGETAndPOST(t *testing.T) {
	tlsConf, pool := selfSigned(t)
	srv, err := NewServer(echo, tlsConf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()

	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "h3.test"}}
	defer tr.Close()
	client := &http.Client{Transport: tr}
	base := "https://" + pc.LocalAddr().String()

	resp, err := client.Get(base + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "GET /hello " || resp.Header.Get("X-Proto") != "HTTP/3.0" {
		t.Fatalf("GET: %d %q proto %q", resp.StatusCode, got, resp.Header.Get("X-Proto"))
	}
	if resp.ProtoMajor != 3 {
		t.Fatalf("client used %s", resp.Proto)
	}

	// A body larger than one QUIC packet and one flow-control window step.
	payload := strings.Repeat("x", 300<<10)
	resp, err = client.Post(base+"/upload", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "POST /upload " + payload; string(got) != want {
		t.Fatalf("POST echoed %d bytes, want %d", len(got), len(want))
	}

	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve = %v, want http.ErrServerClosed", err)
	}
	// Shutdown closed the socket, so the port is free again.
	if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("socket still open after Shutdown: %v", err)
	}
}

func TestNewServerValidates(t *testing.T) {
	if _, err := NewServer(nil, &tls.Config{}, Options{}); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := NewServer(echo, &tls.Config{}, Options{}); err == nil {
		t.Error("TLS config without certificates accepted")
	}
}

func TestAltSvc(t *testing.T) {
	if got, want := AltSvcValue(8443), `h3=":8443"; ma=86400`; got != want {
		t.Fatalf("AltSvcValue = %q, want %q", got, want)
	}
	h := WithAltSvc(8443, echo)

	// HTTPS over TCP, h2 and HTTP/1.1: announced.
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	for _, h2 := range []bool{true, false} {
		c := ts.Client()
		if !h2 {
			c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
			c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			c.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		resp, err := c.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Alt-Svc"); got != `h3=":8443"; ma=86400` {
			t.Errorf("%s: Alt-Svc = %q", resp.Proto, got)
		}
	}

	// Cleartext: not announced.
	plain := httptest.NewServer(h)
	defer plain.Close()
	resp, err := plain.Client().Get(plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Alt-Svc"); got != "" {
		t.Errorf("cleartext response carries Alt-Svc %q", got)
	}

	// HTTP/3 itself: not announced again.
	tlsConf, pool := selfSigned(t)
	srv, err := NewServer(h, tlsConf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	defer func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want http.ErrServerClosed", err)
		}
	}()
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "h3.test"}}
	defer tr.Close()
	resp, err = (&http.Client{Transport: tr}).Get("https://" + pc.LocalAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 3 {
		t.Fatalf("got %s", resp.Proto)
	}
	if got := resp.Header.Get("Alt-Svc"); got != "" {
		t.Errorf("HTTP/3 response carries Alt-Svc %q", got)
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	tlsConf, pool := selfSigned(t)
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	srv, err := NewServer(slow, tlsConf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	t.Cleanup(func() {
		// The test shuts the server down; Serve then returns http.ErrServerClosed.
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve = %v, want http.ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "h3.test"}}
	defer tr.Close()

	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("https://" + pc.LocalAddr().String() + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	close(release)
	if r := <-res; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
