package configstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Client is the proxy side of the stream.
type Client struct {
	// Address of the operator's config server, host:port.
	Address string
	// CAFile holds the PEM CA bundle the config server's certificate must chain to. It is
	// required (there is no plaintext stream) and read again on every connection attempt.
	CAFile string
	// ServerName is the name the server's certificate must carry; empty means the host of
	// Address (the operator's Service DNS name).
	ServerName string
	// Node identifies this proxy.
	Node Node
	// Token returns the bearer token; it is called on every connect because projected
	// ServiceAccount tokens rotate. See TokenFile.
	Token func() (string, error)
	// DialOptions are added to the defaults (TLS with CAFile, keepalive every 20 s); they
	// cannot replace the transport credentials.
	DialOptions []grpc.DialOption
	// HeartbeatInterval defaults to 10 s.
	HeartbeatInterval time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 250 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// StreamEnded, if set, is called with the reason every stream ended or could not be
	// opened (for metrics, readiness and tests); Run keeps reconnecting regardless.
	StreamEnded func(err error)
	// StreamStarted, if set, is called when a stream was opened and the server sent its
	// first message (a config, or nothing new when the proxy already runs the latest:
	// then it is called when the hello was sent).
	StreamStarted func()
	// ApplyDelta, if set, applies the configs Run rebuilds from a delta instead of Run's
	// apply: it is also told the version the delta was made from and which HTTP routes
	// the delta left as they were (runtime.Runtime.ApplyDelta), so that it need not find
	// them out by comparing.
	ApplyDelta func(c *config.Config, base string, unchanged func(bind, listener, routeKey string) bool) error

	// wholeOnly makes the client not announce deltas, as proxies built before them (tests).
	wholeOnly bool
}

// TokenFile returns a Token function reading path (a projected ServiceAccount token).
func TokenFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read service account token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// Run receives configs until ctx is cancelled and returns nil then. Every config is passed
// to apply; nil means applied (ACK), an error means rejected (NACK with its text), and the
// proxy keeps serving what it had. Run never calls apply concurrently. While disconnected
// it calls nothing, so the proxy keeps serving its last good config, and it reconnects with
// exponential back-off and jitter, announcing the version it runs so an unchanged config is
// not sent again.
//
// A version may arrive as a delta from the config applied before it (configdelta); Run
// rebuilds the whole config and passes that to apply. Configs passed to apply must not be
// modified, by apply or later: the next delta shares their unchanged routes and backends.
func (c *Client) Run(ctx context.Context, apply func(*config.Config) error) error {
	if c.Address == "" || c.Node.Pod == "" || c.Node.Namespace == "" || c.Node.Gateway == "" {
		return errors.New("configstream client: Address, Node.Pod, Node.Namespace and Node.Gateway are required")
	}
	if c.Token == nil {
		return errors.New("configstream client: Token is required (use TokenFile)")
	}
	if c.CAFile == "" {
		return errors.New("configstream client: CAFile is required: the stream carries private keys and is only opened over TLS verified against the operator's CA")
	}
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return fmt.Errorf("configstream client: Address %q: %w", c.Address, err)
	}
	creds := &caCredentials{caFile: c.CAFile, serverName: c.ServerName}
	if creds.serverName == "" {
		creds.serverName = host
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := append([]grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: 10 * time.Second}),
	}, c.DialOptions...)
	opts = append(opts, grpc.WithTransportCredentials(creds))

	minB, maxB := orDefault(c.MinBackoff, 250*time.Millisecond), orDefault(c.MaxBackoff, 30*time.Second)
	backoff := minB
	var cur *config.Config // the config applied last, which deltas build on
	for {
		start := time.Now()
		got, err := c.dial(ctx, opts, &cur, apply)
		if ctx.Err() != nil {
			return nil
		}
		if c.StreamEnded != nil {
			c.StreamEnded(err)
		}
		// A stream that delivered something or lived a while was healthy: start over.
		if got || time.Since(start) > maxB {
			backoff = minB
		}
		delay := backoff/2 + rand.N(backoff/2+1)
		log.Warn("config stream ended; keeping the last good config and reconnecting", "address", c.Address, "error", err, "running", versionOf(cur), "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		backoff = min(backoff*2, maxB)
	}
}

// dial opens a connection (resolving Address again) and runs one stream on it. Each
// attempt has its own connection, so every failure to resolve, connect or verify the
// server reaches Run, which logs it and backs off.
func (c *Client) dial(ctx context.Context, opts []grpc.DialOption, cur **config.Config, apply func(*config.Config) error) (bool, error) {
	conn, err := grpc.NewClient(c.Address, opts...)
	if err != nil {
		return false, fmt.Errorf("config server %s: %w", c.Address, err)
	}
	defer conn.Close()
	got, err := c.session(ctx, conn, cur, apply)
	return got, c.describe(err)
}

// describe turns gRPC's report of a connection that could not be made into one that names
// the config server.
func (c *Client) describe(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	switch {
	case !ok || st.Code() != codes.Unavailable:
		return err
	case strings.Contains(st.Message(), "authentication handshake failed"):
		return fmt.Errorf("config server %s refused: %s", c.Address, st.Message())
	default:
		return fmt.Errorf("config server %s unreachable: %s", c.Address, st.Message())
	}
}

// session runs one stream. cur is updated as configs are applied. got reports whether
// any config arrived.
func (c *Client) session(ctx context.Context, conn *grpc.ClientConn, cur **config.Config, apply func(*config.Config) error) (got bool, err error) {
	token, err := c.Token()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	// Not WaitForReady: a connection that fails (unreachable, impostor certificate) fails
	// the stream, so that Run reports it and backs off instead of waiting silently.
	st, err := conn.NewStream(ctx, streamDesc, fullMethod, CallCodec())
	if err != nil {
		return false, err
	}
	node := c.Node
	if err := st.SendMsg(&Request{Node: &node, Running: versionOf(*cur), Deltas: !c.wholeOnly}); err != nil {
		if errors.Is(err, io.EOF) {
			// The server ended the stream before reading the hello (a refused token, for
			// example); gRPC reports the reason on the receive side.
			if rerr := st.RecvMsg(new(Response)); rerr != nil && !errors.Is(rerr, io.EOF) {
				return false, rerr
			}
		}
		return false, fmt.Errorf("send hello: %w", err)
	}
	resps := make(chan *Response)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r := new(Response)
			if err := st.RecvMsg(r); err != nil {
				recvErr <- err
				return
			}
			select {
			case resps <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	hb := time.NewTicker(orDefault(c.HeartbeatInterval, 10*time.Second))
	defer hb.Stop()
	started := false
	start := func() {
		if !started && c.StreamStarted != nil {
			c.StreamStarted()
		}
		started = true
	}
	for {
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case err := <-recvErr:
			return got, err
		case <-hb.C:
			if err := st.SendMsg(&Request{Heartbeat: true, Running: versionOf(*cur)}); err != nil {
				return got, fmt.Errorf("send heartbeat: %w", err)
			}
			// The server did not end the stream after the hello: it accepted this proxy.
			start()
		case r := <-resps:
			got = true
			start()
			ans := &Request{Version: r.Version, Nonce: r.Nonce}
			if next, err := c.apply(r, *cur, apply); err != nil {
				ans.Error = err.Error()
				ans.Resend = errors.Is(err, errRebuild)
			} else {
				*cur = next
			}
			ans.Running = versionOf(*cur)
			if err := st.SendMsg(ans); err != nil {
				return got, fmt.Errorf("send ack: %w", err)
			}
		}
	}
}

// apply applies the config r carries, whole or as a delta from cur, and returns it.
func (c *Client) apply(r *Response, cur *config.Config, apply func(*config.Config) error) (*config.Config, error) {
	next := r.Config
	switch {
	case r.Delta != nil && next != nil:
		return nil, errors.New("configstream: response with both a config and a delta")
	case r.Delta != nil:
		var err error
		if next, err = configdelta.Apply(cur, r.Delta, r.Version); err != nil {
			return nil, fmt.Errorf("%w: %w", errRebuild, err)
		}
	case next == nil:
		return nil, errors.New("configstream: response without a config")
	}
	if next.Version == "" {
		next.Version = r.Version
	}
	if r.Delta != nil && c.ApplyDelta != nil {
		if err := c.ApplyDelta(next, r.Delta.Base, r.Delta.Unchanged()); err != nil {
			return nil, err
		}
		return next, nil
	}
	if err := apply(next); err != nil {
		return nil, err
	}
	return next, nil
}

// errRebuild marks a delta the client could not rebuild a config from.
var errRebuild = errors.New("cannot rebuild the config from the delta")

func versionOf(c *config.Config) string {
	if c == nil {
		return ""
	}
	return c.Version
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
