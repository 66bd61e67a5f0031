package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// grpcCheck is the gRPC side of an ExtAuth policy: the Envoy ext_authz v3
// protocol (envoy.service.auth.v3.Authorization/Check), so authorization
// servers written for Envoy work unchanged.
type grpcCheck struct {
	conn       *grpcConn
	extensions map[string]string
	log        errorLogger
}

// checkGRPC asks the service; it reports false after answering the client.
// Status OK allows the request with the service's changes; any other status
// denies it with the service's denied_response; a failed call, a timeout
// or an error_response is a failure, which the failure mode decides.
func (e *extAuth) checkGRPC(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	client, err := e.grpc.conn.client()
	if err != nil {
		e.grpc.log.Debug("ext auth failed", "backend", e.backend.Name, "error", err)
		return e.failed(w, r)
	}
	req, err := e.checkRequest(r, act)
	if errors.Is(err, errAuthBodyTooLarge) {
		return e.tooLarge(w, r)
	}
	if err != nil {
		e.grpc.log.Debug("ext auth: reading the request body", "backend", e.backend.Name, "error", err)
		return e.failed(w, r)
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.timeout)
	defer cancel()
	resp, err := client.Check(ctx, req)
	if err != nil {
		e.grpc.log.Debug("ext auth failed", "backend", e.backend.Name, "error", err)
		return e.failed(w, r)
	}
	if resp.GetStatus().GetCode() == int32(codes.OK) {
		allow(w, r, act, resp)
		return true
	}
	if er := resp.GetErrorResponse(); er != nil {
		if e.failOpen {
			return true
		}
		deny(w, r, er)
		return false
	}
	deny(w, r, resp.GetDeniedResponse())
	return false
}

// checkRequest describes the request as Envoy's ext_authz filter does:
// lower-case header names with repeated values joined by commas (only the
// forwarded ones, when the policy limits them), pseudo headers included,
// the path with its query, and the body (up to the configured size) as
// raw_body, and as body when it is valid UTF-8.
func (e *extAuth) checkRequest(r *http.Request, act *cel.Activation) (*authv3.CheckRequest, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h := make(map[string]string, len(r.Header)+5)
	for name, vs := range r.Header {
		if e.forward != nil && !e.forward[name] {
			continue
		}
		sep := ","
		if name == "Cookie" {
			sep = "; " // HTTP/2 splits cookies; RFC 9113 §8.2.3 joins them so
		}
		h[strings.ToLower(name)] = strings.Join(vs, sep)
	}
	path := r.URL.RequestURI()
	h[":authority"], h[":method"], h[":path"], h[":scheme"] = r.Host, r.Method, path, scheme
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = strconv.FormatUint(rand.Uint64(), 10)
	}
	hr := &authv3.AttributeContext_HttpRequest{
		Id: id, Method: r.Method, Headers: h, Path: path, Host: r.Host, Scheme: scheme,
		Protocol: protocolName(r), Size: r.ContentLength,
	}
	if e.bodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
		buf, partial, err := e.readBody(r)
		if err != nil {
			return nil, err
		}
		h["x-envoy-auth-partial-body"] = strconv.FormatBool(partial)
		hr.RawBody = buf
		if utf8.Valid(buf) {
			hr.Body = string(buf)
		}
	}
	var src *cel.Source
	if act != nil {
		src = act.Source
	}
	if src == nil {
		src = cel.SourceFromHTTP(r)
	}
	ac := &authv3.AttributeContext{
		Source:            &authv3.AttributeContext_Peer{Address: socketAddress(src.Address, src.Port), Principal: src.Identity},
		Request:           &authv3.AttributeContext_Request{Time: timestamppb.Now(), Http: hr},
		ContextExtensions: e.grpc.extensions,
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, port, err := net.SplitHostPort(local.String()); err == nil {
			p, _ := strconv.Atoi(port) //nolint:errcheck // SplitHostPort gave a numeric port; a bad one reads as 0 (unknown)
			ac.Destination = &authv3.AttributeContext_Peer{Address: socketAddress(host, p)}
		}
	}
	if r.TLS != nil {
		ac.TlsSession = &authv3.AttributeContext_TLSSession{Sni: r.TLS.ServerName}
	}
	return &authv3.CheckRequest{Attributes: ac}, nil
}

func socketAddress(host string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

// protocolName is the protocol as Envoy names it: HTTP/1.0, HTTP/1.1,
// HTTP/2 or HTTP/3.
func protocolName(r *http.Request) string {
	if r.ProtoMajor >= 2 {
		return "HTTP/" + strconv.Itoa(r.ProtoMajor)
	}
	return r.Proto
}

// allow applies an OK answer: header changes to the request sent to the
// backend, query parameter changes, headers for the client's response and
// the extauthz CEL variable (the headers it set and its dynamic metadata).
func allow(w http.ResponseWriter, r *http.Request, act *cel.Activation, resp *authv3.CheckResponse) {
	ok := resp.GetOkResponse()
	applyHeaderOptions(r.Header, ok.GetHeaders())
	for _, name := range ok.GetHeadersToRemove() {
		if settableHeader(name) {
			r.Header.Del(name)
		}
	}
	setQuery(r, ok.GetQueryParametersToSet(), ok.GetQueryParametersToRemove())
	// Set before the backend answers. The reverse proxy adds the backend's
	// headers to these, so a header both set keeps both values.
	applyHeaderOptions(w.Header(), ok.GetResponseHeadersToAdd())
	res := &cel.ExtAuthz{Headers: http.Header{}}
	for _, o := range ok.GetHeaders() {
		if name, value, valid := headerOption(o); valid {
			res.Headers.Add(name, value)
		}
	}
	md := resp.GetDynamicMetadata()
	if ok.GetDynamicMetadata() != nil { //nolint:staticcheck // deprecated, yet it still overrides the outer field in Envoy
		md = ok.GetDynamicMetadata() //nolint:staticcheck // see above
	}
	if md != nil {
		res.Metadata = md.AsMap()
	}
	if act != nil {
		act.ExtAuthz = res
	}
}

// deny answers the client with the service's denied (or error) response:
// its status (403 when it has none), headers and body.
func deny(w http.ResponseWriter, r *http.Request, d *authv3.DeniedHttpResponse) {
	code := int(d.GetStatus().GetCode())
	if code < 200 || code > 599 {
		code = http.StatusForbidden
	}
	h := w.Header()
	applyHeaderOptions(h, d.GetHeaders())
	body := d.GetBody()
	if policy.IsGRPC(r) {
		msg := body
		if msg == "" {
			msg = http.StatusText(code)
		}
		localError(w, r, code, msg)
		return
	}
	if body != "" && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// applyHeaderOptions applies header changes the way Envoy's ext_authz
// filter does: the deprecated append field, when set, wins (true appends,
// false replaces); otherwise append_action decides (appending by default).
// Invalid headers, pseudo headers, Host and framing headers are skipped.
func applyHeaderOptions(h http.Header, opts []*corev3.HeaderValueOption) {
	for _, o := range opts {
		name, value, valid := headerOption(o)
		if !valid {
			continue
		}
		action := o.GetAppendAction()
		if a := o.GetAppend(); a != nil { //nolint:staticcheck // deprecated, but still honoured by Envoy
			action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			if a.GetValue() {
				action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
			}
		}
		exists := len(h[name]) > 0
		switch action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			h[name] = append(h[name], value)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !exists {
				h[name] = []string{value}
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if exists {
				h[name] = []string{value}
			}
		default: // OVERWRITE_IF_EXISTS_OR_ADD, and unknown actions as Envoy does
			h[name] = []string{value}
		}
	}
}

// headerOption returns the canonical name and the value of an option, and
// whether it may be applied.
func headerOption(o *corev3.HeaderValueOption) (name, value string, valid bool) {
	hv := o.GetHeader()
	value = hv.GetValue()
	if value == "" && len(hv.GetRawValue()) > 0 {
		value = string(hv.GetRawValue())
	}
	if !settableHeader(hv.GetKey()) || !httpguts.ValidHeaderFieldValue(value) {
		return "", "", false
	}
	return http.CanonicalHeaderKey(hv.GetKey()), value, true
}

// settableHeader says whether an authorization service may set or remove a
// header: not a pseudo header, not Host (that would change the request's
// target) and not one that frames the message or the connection.
func settableHeader(name string) bool {
	if !httpguts.ValidHeaderFieldName(name) {
		return false // also rejects pseudo headers (":path")
	}
	switch http.CanonicalHeaderKey(name) {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Upgrade":
		return false
	}
	return true
}

// setQuery applies query parameter changes to the request sent to the
// backend; an unchanged query keeps its original encoding.
func setQuery(r *http.Request, set []*corev3.QueryParameter, remove []string) {
	if len(set) == 0 && len(remove) == 0 {
		return
	}
	q := r.URL.Query()
	for _, name := range remove {
		q.Del(name)
	}
	for _, p := range set {
		q.Set(p.GetKey(), p.GetValue())
	}
	r.URL.RawQuery = q.Encode()
}

// grpcConns keeps one gRPC client connection per ext-auth backend across
// reloads, keyed by the compiled backend: the upstream pool keeps a
// backend's *upstream.Backend while its config (endpoints included) is
// unchanged, so the connection is reused until the backend changes.
// Building a config marks the connections it uses (begin, get); commit
// closes the others once the checks that may still use them are over.
type grpcConns struct {
	mu   sync.Mutex
	all  map[*upstream.Backend]*grpcConn
	used map[*upstream.Backend]bool
}

func newGRPCConns() *grpcConns {
	return &grpcConns{all: map[*upstream.Backend]*grpcConn{}}
}

func (s *grpcConns) begin() {
	s.mu.Lock()
	s.used = map[*upstream.Backend]bool{}
	s.mu.Unlock()
}

// get returns the connection to b; timeout is the longest a check on it
// may take, which bounds how long a dropped connection must stay open.
func (s *grpcConns) get(b *upstream.Backend, timeout time.Duration) *grpcConn {
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

func (s *grpcConns) commit() {
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

// closeAll closes every connection, at shutdown.
func (s *grpcConns) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b, c := range s.all {
		delete(s.all, b)
		c.close()
	}
}

// grpcConn is a gRPC client connection to one backend, created on first
// use. Calls are balanced round robin over the backend's endpoints.
type grpcConn struct {
	addrs     []string
	authority string
	tls       *tls.Config   // the backend's TLS settings; nil for h2c
	grace     time.Duration // guarded by grpcConns.mu

	auth   atomic.Pointer[grpcClient]
	mu     sync.Mutex
	closed bool
}

type grpcClient struct {
	cc   *grpc.ClientConn
	auth authv3.AuthorizationClient
}

var errConnClosed = errors.New("ext auth connection closed by a config change")

func newGRPCConn(b *upstream.Backend) *grpcConn {
	c := &grpcConn{authority: "extauth", tls: b.ClientTLS()}
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

func (c *grpcConn) client() (authv3.AuthorizationClient, error) {
	if gc := c.auth.Load(); gc != nil {
		return gc.auth, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errConnClosed
	}
	if gc := c.auth.Load(); gc != nil {
		return gc.auth, nil
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
	gc := &grpcClient{cc: cc, auth: authv3.NewAuthorizationClient(cc)}
	c.auth.Store(gc)
	return gc.auth, nil
}

func (c *grpcConn) close() {
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
