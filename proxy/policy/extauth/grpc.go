package extauth

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
)

// grpcCheck is the gRPC side of an ExtAuth policy: the Envoy ext_authz v3
// protocol (envoy.service.auth.v3.Authorization/Check), so authorization
// servers written for Envoy work unchanged.
type grpcCheck struct {
	conn       *callout.Conn
	extensions map[string]string
	log        policy.Logger
}

// checkGRPC asks the service; it reports false after answering the client.
// Status OK allows the request with the service's changes; any other status
// denies it with the service's denied_response; a failed call, a timeout
// or an error_response is a failure, which the failure mode decides.
func (e *ExtAuth) checkGRPC(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	client, err := e.grpc.conn.AuthClient()
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
	if sp := tracing.FromContext(ctx); sp != nil {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", sp.SpanContext().Traceparent())
	}
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
func (e *ExtAuth) checkRequest(r *http.Request, act *cel.Activation) (*authv3.CheckRequest, error) {
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
		if callout.SettableHeader(name) {
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
		policy.Error(w, r, code, msg)
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
	if !callout.SettableHeader(hv.GetKey()) || !httpguts.ValidHeaderFieldValue(value) {
		return "", "", false
	}
	return http.CanonicalHeaderKey(hv.GetKey()), value, true
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
