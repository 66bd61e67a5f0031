package configstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Authenticator decides whether a bearer token may read the config of the Gateway that
// node names. Return a gRPC status error (codes.Unauthenticated for a bad token,
// codes.PermissionDenied for a valid token of someone else); any other error is reported
// to the proxy as codes.Unauthenticated.
type Authenticator interface {
	Authenticate(ctx context.Context, token string, node Node) error
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string, node Node) error

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string, node Node) error {
	return f(ctx, token, node)
}

// StreamID tells apart two streams of the same pod (a reconnect can overlap the old
// stream's teardown).
type StreamID uint64

// Observer is told what happens on every stream, to track per-proxy state and metrics.
// Calls for one stream are sequential; calls for different streams are concurrent.
type Observer interface {
	// Connected is called once the node is authenticated; running is the version it serves.
	Connected(id StreamID, node Node, running string)
	// Heartbeat is called for every message received after the first.
	Heartbeat(id StreamID, node Node)
	// Pushed is called after a config version was sent.
	Pushed(id StreamID, node Node, p Push)
	// Acked is called when the node applied version.
	Acked(id StreamID, node Node, version string)
	// Nacked is called when the node rejected version; it still serves its previous one.
	Nacked(id StreamID, node Node, version, reason string)
	// Disconnected is called when the stream ends.
	Disconnected(id StreamID, node Node, err error)
}

// Push describes one config version sent to a proxy.
type Push struct {
	Version string
	// Delta is set when the version went as its changes from the one the proxy ran.
	Delta bool
	// Bytes is the size of the config or delta on the wire.
	Bytes int
}

// Server serves the config stream from a Snapshots store.
type Server struct {
	snaps  *Snapshots
	auth   Authenticator
	obs    Observer
	log    *slog.Logger
	nextID atomic.Uint64
}

var _ handler = (*Server)(nil)

// NewServer returns a Server. obs and log may be nil.
func NewServer(snaps *Snapshots, auth Authenticator, obs Observer, log *slog.Logger) *Server {
	if obs == nil {
		obs = nopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{snaps: snaps, auth: auth, obs: obs, log: log}
}

// Register adds the service to g, which must have been created with ServerOptions.
func (s *Server) Register(g *grpc.Server) { g.RegisterService(&serviceDesc, s) }

// ServerOptions are the grpc.ServerOptions the service needs: the JSON codec, and keepalive
// settings that let proxies ping every 20 s (the default policy would disconnect them) and
// drop dead peers within a minute.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		ServerCodec(),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 20 * time.Second}),
	}
}

func (s *Server) stream(ss grpc.ServerStream) error {
	ctx := ss.Context()
	token, err := bearerToken(ctx)
	if err != nil {
		return err
	}
	var first Request
	if err := ss.RecvMsg(&first); err != nil {
		return err
	}
	if first.Node == nil || first.Node.Namespace == "" || first.Node.Gateway == "" || first.Node.Pod == "" {
		return status.Error(codes.InvalidArgument, "configstream: the first message must carry node.pod, node.namespace and node.gateway")
	}
	node := *first.Node
	if err := s.auth.Authenticate(ctx, token, node); err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		return status.Errorf(codes.Unauthenticated, "configstream: %v", err)
	}
	id := StreamID(s.nextID.Add(1))
	log := s.log.With("pod", node.Namespace+"/"+node.Pod, "gateway", node.Gateway, "stream", id)
	// sent is what the proxy runs or was last offered: resending it would only repeat an
	// ACK or, worse, a NACK loop on a config the proxy already refused.
	sent := first.Running
	// base is the version this proxy is known to run (acknowledged on this stream, or
	// announced at connect and still the latest), from which deltas are made; nil sends
	// whole configs. Only a proxy that announced Deltas gets deltas. It is taken before the
	// connection is reported, so a change published after Connected is pushed as a delta.
	var base *configdelta.Encoded
	if enc, _ := s.snaps.latest(node.Key()); first.Deltas && enc != nil && enc.Version == first.Running {
		base = enc
	}
	log.Info("proxy connected", "running", first.Running, "build", node.BuildVersion)
	s.obs.Connected(id, node, first.Running)
	if first.Running != "" {
		// A resuming proxy runs a config it acknowledged on an earlier stream.
		s.obs.Acked(id, node, first.Running)
	}

	reqs := make(chan Request)
	recvErr := make(chan error, 1)
	go func() {
		for {
			var r Request
			if err := ss.RecvMsg(&r); err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()

	// offered is the push awaiting its answer. The next push waits for it: a delta must
	// name the version the proxy will run when it arrives, and changes made meanwhile
	// coalesce into one push. wholeOnce sends the next push whole.
	type offer struct {
		enc   *configdelta.Encoded
		nonce string
		delta bool // sent as a delta
	}
	var (
		offered   *offer
		wholeOnce bool
		nonce     uint64
	)
	err = func() error {
		for {
			var changed <-chan struct{}
			if offered == nil {
				var next *configdelta.Encoded
				next, changed = s.snaps.latest(node.Key())
				if next != nil && next.Version != sent {
					from := base
					if wholeOnce {
						from = nil
					}
					full, delta, ok, err := s.snaps.push(node.Key(), from, next)
					if err != nil {
						return status.Errorf(codes.Internal, "configstream: encode config: %v", err)
					}
					if !ok {
						continue // replaced meanwhile: push the newer one
					}
					nonce++
					resp := &encodedResponse{version: next.Version, nonce: strconv.FormatUint(nonce, 10), config: full, delta: delta}
					if err := ss.SendMsg(resp); err != nil {
						return fmt.Errorf("send config %s: %w", next.Version, err)
					}
					sent, wholeOnce = next.Version, false
					offered = &offer{enc: next, nonce: resp.nonce, delta: delta != nil}
					s.obs.Pushed(id, node, Push{Version: next.Version, Delta: delta != nil, Bytes: len(full) + len(delta)})
					if delta != nil {
						log.Debug("pushed config delta", "version", next.Version, "base", from.Version, "nonce", resp.nonce, "bytes", len(delta), "whole_bytes", next.Size())
					} else {
						log.Debug("pushed config", "version", next.Version, "nonce", resp.nonce, "bytes", len(full))
					}
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case err := <-recvErr:
				return err
			case <-changed: // nil while a push awaits its answer
			case r := <-reqs:
				s.obs.Heartbeat(id, node)
				if !r.IsAnswer() {
					break
				}
				if offered != nil && r.Nonce == offered.nonce {
					switch {
					case r.Error == "" && first.Deltas:
						base = offered.enc
					case r.Resend && offered.delta:
						// The proxy could not rebuild the config from the delta (it lost
						// track of its base): offer the version again, whole.
						log.Warn("proxy could not apply a config delta; sending the config whole", "version", r.Version, "error", r.Error)
						sent, wholeOnce = "", true
					}
					offered = nil
				}
				switch {
				case r.Resend:
				case r.Error != "":
					log.Warn("proxy rejected config", "version", r.Version, "error", r.Error)
					s.obs.Nacked(id, node, r.Version, r.Error)
				default:
					s.obs.Acked(id, node, r.Version)
				}
			}
		}
	}()
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		err = nil
	}
	log.Info("proxy disconnected", "error", err)
	s.obs.Disconnected(id, node, err)
	return err
}

// bearerToken reads the "authorization: Bearer <token>" metadata.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok && t != "" {
			return t, nil
		}
	}
	return "", status.Error(codes.Unauthenticated, "configstream: missing \"authorization: Bearer <token>\" metadata; the proxy must send its ServiceAccount token")
}

type nopObserver struct{}

func (nopObserver) Connected(StreamID, Node, string)      {}
func (nopObserver) Heartbeat(StreamID, Node)              {}
func (nopObserver) Pushed(StreamID, Node, Push)           {}
func (nopObserver) Acked(StreamID, Node, string)          {}
func (nopObserver) Nacked(StreamID, Node, string, string) {}
func (nopObserver) Disconnected(StreamID, Node, error)    {}
