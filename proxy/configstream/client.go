package configstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Client is the proxy side of the stream.
type Client struct {
	// Address of the operator's config server, host:port.
	Address string
	// Node identifies this proxy.
	Node Node
	// Token returns the bearer token; it is called on every connect because projected
	// ServiceAccount tokens rotate. See TokenFile.
	Token func() (string, error)
	// DialOptions replace the default (plaintext h2c, keepalive every 20 s).
	DialOptions []grpc.DialOption
	// HeartbeatInterval defaults to 10 s.
	HeartbeatInterval time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 250 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// StreamEnded, if set, is called with the reason every stream ended (for metrics and
	// tests); Run keeps reconnecting regardless.
	StreamEnded func(err error)
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
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := c.DialOptions
	if opts == nil {
		opts = []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		}
	}
	conn, err := grpc.NewClient(c.Address, opts...)
	if err != nil {
		return fmt.Errorf("configstream client: dial %s: %w", c.Address, err)
	}
	defer conn.Close()

	minB, maxB := orDefault(c.MinBackoff, 250*time.Millisecond), orDefault(c.MaxBackoff, 30*time.Second)
	backoff := minB
	var cur *config.Config // the config applied last, which deltas build on
	for {
		start := time.Now()
		got, err := c.session(ctx, conn, &cur, apply)
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
		log.Warn("config stream ended; keeping the last good config and reconnecting", "error", err, "running", versionOf(cur), "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		backoff = min(backoff*2, maxB)
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
	st, err := conn.NewStream(ctx, streamDesc, fullMethod, CallCodec(), grpc.WaitForReady(true))
	if err != nil {
		return false, fmt.Errorf("open config stream: %w", err)
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
		case r := <-resps:
			got = true
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
