package l4

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// helloConn is a net.Conn that reads in and discards writes, for
// running crypto/tls's server handshake over fuzz input.
type helloConn struct{ r io.Reader }

func (c *helloConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *helloConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *helloConn) Close() error                     { return nil }
func (c *helloConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *helloConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *helloConn) SetDeadline(time.Time) error      { return nil }
func (c *helloConn) SetReadDeadline(time.Time) error  { return nil }
func (c *helloConn) SetWriteDeadline(time.Time) error { return nil }

var errSeen = errors.New("client hello seen")

// stdServerName runs crypto/tls's server on in and returns the
// ServerName of the ClientHello it parsed, and false when it did not get
// as far as a parsed ClientHello.
func stdServerName(in []byte) (string, bool) {
	var name string
	seen := false
	cfg := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name, seen = h.ServerName, true
		return nil, errSeen
	}}
	_ = tls.Server(&helloConn{bytes.NewReader(in)}, cfg).Handshake() //nolint:errcheck // the handshake is aborted on purpose once the hello is parsed
	return name, seen
}

// FuzzClientHelloSNI compares the SNI readClientHello finds with the
// ServerName crypto/tls's server parses from the same bytes: whatever
// hello crypto/tls accepts (within the size readClientHello allows), the
// passthrough router must read without error and route by the same name.
func FuzzClientHelloSNI(f *testing.F) {
	for _, cfg := range []*tls.Config{
		{ServerName: "a.example.com", InsecureSkipVerify: true},
		{ServerName: "x", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
		{InsecureSkipVerify: true},
	} {
		f.Add(captureHello(f, cfg))
	}
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > maxClientHelloLen {
			return
		}
		raw, sni, err := readClientHello(bytes.NewReader(in))
		if !bytes.HasPrefix(in, raw) {
			t.Fatal("returned bytes are not a prefix of the input")
		}
		want, ok := stdServerName(in)
		if !ok {
			return
		}
		if err != nil || sni != want {
			t.Fatalf("readClientHello: sni %q, %v; crypto/tls parsed server name %q", sni, err, want)
		}
	})
}
