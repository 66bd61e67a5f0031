// Package callout keeps the gRPC connections of the policies that call a
// service for each request (ext auth over gRPC, global rate limit), one
// per service backend, shared by both protocols and kept across reloads
// while the backend is unchanged.
package callout

import (
	"crypto/tls"
	"errors"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// Conns keeps one gRPC client connection per ext-auth backend across
// reloads, keyed by the compiled backend: the upstream pool keeps a
// backend's *upstream.Backend while its config (endpoints included) is
// unchanged, so the connection is reused until the backend changes.
// Building a config marks the connections it uses (Stage, Get); Commit
// closes the others once the checks that may still use them are over.
type Conns struct {
	mu   sync.Mutex
	all  map[*upstream.Backend]*Conn
	used map[*upstream.Backend]bool
	// grace is, in a staged copy, the drain grace of each connection of
	// the set it was staged from, before the build.
	grace map[*Conn]time.Duration
}

// NewConns returns an empty set.
func NewConns() *Conns {
	return &Conns{all: map[*upstream.Backend]*Conn{}}
}

// Stage returns a copy of s for building a config: what the build adds
// (a new connection) and marks as used lands in the copy. It remembers
// the drain grace of s's connections, the one thing a build changes in
// what it shares with s (Get raises it to the longest check timeout), so
// that Discard can restore it.
func (s *Conns) Stage() *Conns {
	s.mu.Lock()
	st := &Conns{all: maps.Clone(s.all), grace: make(map[*Conn]time.Duration, len(s.all))}
	for _, c := range s.all {
		st.grace[c] = c.grace
	}
	s.mu.Unlock()
	st.begin()
	return st
}

// Discard drops s, a staged copy of serving whose config was not
// swapped in: it closes the connections the build created (no request
// ever used them) and restores the grace of the serving ones.
func (s *Conns) Discard(serving *Conns) {
	serving.mu.Lock()
	defer serving.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for b, c := range s.all {
		if serving.all[b] != c {
			c.close()
		}
	}
	for c, g := range s.grace {
		c.grace = g
	}
}

// ConnState describes one connection of a set.
type ConnState struct {
	Backend string
	Conn    *Conn
	Grace   time.Duration
	Closed  bool
}

// Snapshot describes the set's connections.
func (s *Conns) Snapshot() []ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConnState, 0, len(s.all))
	for b, c := range s.all {
		out = append(out, ConnState{Backend: b.Name, Conn: c, Grace: c.grace, Closed: c.Closed()})
	}
	return out
}

// Closed reports whether the connection was closed (by a config that no
// longer uses it, or CloseAll).
func (c *Conn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (s *Conns) begin() {
	s.mu.Lock()
	s.used = map[*upstream.Backend]bool{}
	s.mu.Unlock()
}

// Get returns the connection to b; timeout is the longest a check on it
// may take, which bounds how long a dropped connection must stay open.
func (s *Conns) Get(b *upstream.Backend, timeout time.Duration) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used[b] = true
	c := s.all[b]
	if c == nil {
		c = newGRPCConn(b)
		s.all[b] = c
	}
	c.grace = max(c.grace, timeout)
	return c
}

// Commit closes the connections the config built with s does not use,
// once the calls that may still use them are over.
func (s *Conns) Commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b, c := range s.all {
		if !s.used[b] {
			delete(s.all, b)
			// Requests still running on the previous config may be
			// checking on it; none takes longer than its timeout.
			time.AfterFunc(c.grace+time.Second, c.close)
		}
	}
}

// CloseAll closes every connection, at shutdown.
func (s *Conns) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b, c := range s.all {
		delete(s.all, b)
		c.close()
	}
}

// Conn is a gRPC client connection to one backend, created on first
// use. Calls are balanced round robin over the backend's endpoints.
type Conn struct {
	addrs     []string
	authority string
	tls       *tls.Config   // the backend's TLS settings; nil for h2c
	grace     time.Duration // guarded by the mu of the Conns holding it

	auth   atomic.Pointer[grpcClient]
	mu     sync.Mutex
	closed bool
}

// grpcClient is a dialed connection with the clients of both services,
// made once with it.
type grpcClient struct {
	cc   *grpc.ClientConn
	auth authv3.AuthorizationClient
	rls  rlsv3.RateLimitServiceClient
}

// ErrConnClosed fails calls on a connection a config change closed.
var ErrConnClosed = errors.New("ext auth connection closed by a config change")

func newGRPCConn(b *upstream.Backend) *Conn {
	c := &Conn{authority: "extauth", tls: b.ClientTLS()}
	for _, ep := range b.Endpoints() {
		c.addrs = append(c.addrs, ep.Address)
	}
	if len(c.addrs) > 0 {
		// Servers may check :authority; an endpoint address is a valid one
		// (a host name for ExternalName Services).
		c.authority = c.addrs[0]
	}
	if c.tls != nil && c.tls.ServerName != "" {
		// gRPC requires the authority to be the TLS server name.
		c.authority = c.tls.ServerName
	}
	return c
}

// AuthClient returns an ext_authz client on the connection, dialing on
// first use.
func (c *Conn) AuthClient() (authv3.AuthorizationClient, error) {
	gc, err := c.client()
	if err != nil {
		return nil, err
	}
	return gc.auth, nil
}

// RateLimitClient returns a rate-limit service client on the connection,
// dialing on first use.
func (c *Conn) RateLimitClient() (rlsv3.RateLimitServiceClient, error) {
	gc, err := c.client()
	if err != nil {
		return nil, err
	}
	return gc.rls, nil
}

func (c *Conn) client() (*grpcClient, error) {
	if gc := c.auth.Load(); gc != nil {
		return gc, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrConnClosed
	}
	if gc := c.auth.Load(); gc != nil {
		return gc, nil
	}
	// HTTP/2 over the backend's TLS settings (gRPC offers ALPN h2 and,
	// without an SNI, verifies the authority: the first endpoint's host),
	// or cleartext HTTP/2 (h2c).
	creds := insecure.NewCredentials()
	if c.tls != nil {
		creds = credentials.NewTLS(c.tls)
	}
	cc, err := grpc.NewClient(endpointScheme+":///extauth",
		grpc.WithTransportCredentials(creds),
		grpc.WithResolvers(endpointResolver(c.addrs)),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		grpc.WithAuthority(c.authority),
		grpc.WithUserAgent("agentgateway"),
		// An authorization service that restarts must be back in use within
		// seconds, not after the default two-minute backoff.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, err
	}
	gc := &grpcClient{cc: cc, auth: authv3.NewAuthorizationClient(cc), rls: rlsv3.NewRateLimitServiceClient(cc)}
	c.auth.Store(gc)
	return gc, nil
}

func (c *Conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if gc := c.auth.Swap(nil); gc != nil {
		gc.cc.Close() //nolint:errcheck // closing a client connection only releases it
	}
}

// endpointScheme names the resolver that hands gRPC a backend's endpoint
// addresses: the proxy config resolves Services itself, so there is no
// name to look up.
const endpointScheme = "agw-endpoints"

// endpointResolver is a resolver.Builder (and its Resolver) for a fixed
// list of addresses; a backend whose endpoints change gets a new
// connection, so the list never changes.
type endpointResolver []string

func (e endpointResolver) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	if len(e) == 0 {
		// Calls fail at once (Unavailable) instead of waiting for their
		// deadline, so the failure mode applies without delay.
		cc.ReportError(upstream.ErrNoEndpoints)
		return e, nil
	}
	st := resolver.State{}
	for _, a := range e {
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	if err := cc.UpdateState(st); err != nil {
		cc.ReportError(err)
	}
	return e, nil
}

func (endpointResolver) Scheme() string                        { return endpointScheme }
func (endpointResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (endpointResolver) Close()                                {}

// SettableHeader says whether a called service may set or remove a
// header: not a pseudo header, not Host (that would change the request's
// target) and not one that frames the message or the connection.
func SettableHeader(name string) bool {
	if !httpguts.ValidHeaderFieldName(name) {
		return false // also rejects pseudo headers (":path")
	}
	switch http.CanonicalHeaderKey(name) {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Upgrade":
		return false
	}
	return true
}
