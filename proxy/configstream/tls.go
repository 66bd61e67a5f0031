package configstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// caCredentials are the client's transport credentials: TLS 1.3 verifying the server's
// certificate against the CA bundle in a file, read again on every connection so that a
// rotated CA (the mounted ConfigMap is updated in place) is used without a restart.
type caCredentials struct {
	caFile     string
	serverName string
}

func (c *caCredentials) config() (*tls.Config, error) {
	pem, err := os.ReadFile(c.caFile)
	if err != nil {
		return nil, fmt.Errorf("config server CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("config server CA: no PEM certificate in %s", c.caFile)
	}
	return &tls.Config{
		RootCAs:    pool,
		ServerName: c.serverName,
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2"},
	}, nil
}

// ClientHandshake verifies the server as serverName whatever the channel's authority (gRPC's
// TLS credentials verify the name they are handed here).
func (c *caCredentials) ClientHandshake(ctx context.Context, _ string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, nil, err
	}
	conn, info, err := credentials.NewTLS(cfg).ClientHandshake(ctx, c.serverName, raw)
	if err != nil {
		return nil, nil, describeTLSError(err, c.serverName, c.caFile)
	}
	return conn, info, nil
}

func (*caCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("configstream: client credentials cannot serve")
}

func (*caCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c *caCredentials) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is deprecated in gRPC; the name verified is always serverName.
func (*caCredentials) OverrideServerName(string) error { return nil }

// describeTLSError says what a failed handshake means for the operator of the proxy.
func describeTLSError(err error, serverName, caFile string) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("config server certificate is not signed by the CA in %s (an impostor, or the wrong CA): %w", caFile, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("config server certificate is not valid for %s: %w", serverName, err)
	}
	return fmt.Errorf("TLS handshake with the config server: %w", err)
}

// ServerTLS is the grpc.ServerOption that serves the stream over TLS 1.3 with the
// certificate getCert returns at each handshake (streamcert.Serving.GetCertificate).
func ServerTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) grpc.ServerOption {
	return grpc.Creds(credentials.NewTLS(&tls.Config{
		GetCertificate: getCert,
		MinVersion:     tls.VersionTLS13,
		NextProtos:     []string{"h2"},
	}))
}
