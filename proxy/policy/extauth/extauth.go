// Package extauth is the external authorization policy (config.ExtAuth):
// each request is checked with a service, over HTTP (the request's headers
// forwarded, a 2xx allows) or over gRPC (the Envoy ext_authz v3 protocol,
// grpc.go), which may change the request and decides the denial.
package extauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// ExtAuth is a compiled ExtAuth policy; grpc is set for protocol GRPC
// (grpc.go).
type ExtAuth struct {
	backend     *upstream.Backend
	grpc        *grpcCheck
	prefix      string
	rawPrefix   string          // prefix as it appears in an escaped path
	forward     map[string]bool // canonical names; nil forwards all
	allowed     []string        // canonical names
	allAllowed  bool            // copy every header of the answer but excludedUpstream
	require200  bool
	signIn      string
	bodyBytes   int
	rejectLarge bool
	failOpen    bool
	timeout     time.Duration
}

// excludedUpstream are the answer headers AllUpstreamHeaders never copies
// onto the request: Host would change the request's target, the others
// frame or describe the service's answer (Content-Type would replace the
// client's own), and hop-by-hop headers belong to one connection.
var excludedUpstream = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Date": true, "Server": true,
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// errAuthBodyTooLarge reports a body longer than an ext-auth policy that
// rejects large bodies forwards.
var errAuthBodyTooLarge = errors.New("request body larger than the authorization service accepts")

// deniedBodyLimit bounds the denial body relayed to the client.
const deniedBodyLimit = 64 << 10

// New compiles c; a gRPC service's connection comes from conns.
func New(c *config.ExtAuth, env policy.Env, conns *callout.Conns) (*ExtAuth, error) {
	e := &ExtAuth{backend: env.Backend(c.Backend), prefix: c.PathPrefix, signIn: c.SignInRedirectURL, bodyBytes: c.IncludeBodyBytes,
		failOpen: c.FailOpen, timeout: 2 * time.Second, allAllowed: c.AllUpstreamHeaders, require200: c.Require200, rejectLarge: c.RejectLargeBody}
	e.rawPrefix = (&url.URL{Path: c.PathPrefix}).EscapedPath()
	if c.Timeout != nil {
		e.timeout = c.Timeout.Duration
	}
	if e.backend == nil {
		return nil, fmt.Errorf("ext auth backend %q is not defined", c.Backend)
	}
	if c.Protocol == config.ExtAuthGRPC {
		e.grpc = &grpcCheck{conn: conns.Get(e.backend, e.timeout), extensions: c.ContextExtensions, log: env.Logger()}
	}
	if len(c.ForwardHeaders) > 0 {
		e.forward = map[string]bool{}
		for _, h := range c.ForwardHeaders {
			e.forward[http.CanonicalHeaderKey(h)] = true
		}
	}
	for _, h := range c.AllowedUpstreamHeaders {
		e.allowed = append(e.allowed, http.CanonicalHeaderKey(h))
	}
	return e, nil
}

// Phase is ext auth.
func (*ExtAuth) Phase() policy.Phase { return policy.PhaseExtAuth }

// Request asks the service; it reports false after answering the client.
// A traced request gets an ext_authz client span, the parent of the call's
// own (upstream attempt or gRPC) context.
func (e *ExtAuth) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	parent := tracing.FromContext(r.Context())
	if parent == nil {
		return e.request(w, r, act)
	}
	sp := parent.Child("ext_authz", tracing.KindClient)
	sp.SetString("agentgateway.backend", e.backend.Name)
	ok := e.request(w, r.WithContext(tracing.ContextWith(r.Context(), sp)), act)
	if ok {
		sp.SetString("agentgateway.ext_authz.decision", "allow")
	} else {
		sp.SetString("agentgateway.ext_authz.decision", "deny")
	}
	sp.Finish()
	return ok
}

func (e *ExtAuth) request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if e.grpc != nil {
		return e.checkGRPC(w, r, act)
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.timeout)
	defer cancel()
	u := *r.URL
	u.Scheme, u.Host = e.backend.Scheme(), "extauth"
	u.Path = e.prefix + r.URL.Path
	if u.RawPath != "" {
		u.RawPath = e.rawPrefix + r.URL.RawPath
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), nil)
	if err != nil {
		return e.failed(w, r)
	}
	req.Host = r.Host
	for name, vs := range r.Header {
		if e.forward != nil && !e.forward[name] {
			continue
		}
		req.Header[name] = vs
	}
	removeHopHeaders(req.Header)
	req.Header.Del("Content-Length")
	if e.bodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
		buf, _, err := e.readBody(r)
		if errors.Is(err, errAuthBodyTooLarge) {
			return e.tooLarge(w, r)
		}
		if err != nil {
			return e.failed(w, r)
		}
		req.Body = io.NopCloser(bytes.NewReader(buf))
		req.ContentLength = int64(len(buf))
	}
	resp, err := e.backend.RoundTrip(req)
	if err != nil {
		return e.failed(w, r)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if e.require200 && resp.StatusCode != http.StatusOK {
			// Relaying a 2xx would tell the client its request succeeded.
			policy.Error(w, r, http.StatusForbidden, "authorization denied")
			return false
		}
		e.copyUpstream(r.Header, resp.Header)
		act.ExtAuthz = &cel.ExtAuthz{Headers: resp.Header}
		io.Copy(io.Discard, io.LimitReader(resp.Body, deniedBodyLimit)) //nolint:errcheck // draining the auth response only lets its connection be reused
		return true
	}
	if resp.StatusCode == http.StatusUnauthorized && e.signIn != "" && browserNavigation(r) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		orig := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		target, err := url.Parse(e.signIn)
		if err == nil {
			q := target.Query()
			q.Set("rd", orig.String())
			target.RawQuery = q.Encode()
			http.Redirect(w, r, target.String(), http.StatusFound)
			return false
		}
	}
	// Relay the denial: the service decides status, headers and body.
	h := w.Header()
	for name, vs := range resp.Header {
		h[name] = vs
	}
	removeHopHeaders(h)
	h.Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, deniedBodyLimit)) //nolint:errcheck // the client gets what the auth server sent until either side fails; nothing is left to report to
	return false
}

// readBody reads up to bodyBytes bytes of the request body for the
// service (partial says the body is longer), or errAuthBodyTooLarge when a
// longer body must be refused. The backend still gets the whole body:
// what was read, then the rest.
func (e *ExtAuth) readBody(r *http.Request) (buf []byte, partial bool, err error) {
	if e.rejectLarge && r.ContentLength > int64(e.bodyBytes) {
		return nil, true, errAuthBodyTooLarge
	}
	// One byte more than is sent tells a partial body from a whole one.
	buf, err = io.ReadAll(io.LimitReader(r.Body, int64(e.bodyBytes)+1))
	if err != nil {
		return nil, false, err
	}
	r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if len(buf) > e.bodyBytes {
		if e.rejectLarge {
			return nil, true, errAuthBodyTooLarge
		}
		return buf[:e.bodyBytes], true, nil
	}
	return buf, false, nil
}

// tooLarge refuses a request whose body is longer than the service may see.
func (e *ExtAuth) tooLarge(w http.ResponseWriter, r *http.Request) bool {
	policy.Error(w, r, http.StatusRequestEntityTooLarge, errAuthBodyTooLarge.Error())
	return false
}

// copyUpstream copies the allowed headers of an allowing answer onto the
// request sent to the backend, replacing the client's values.
func (e *ExtAuth) copyUpstream(dst, answer http.Header) {
	if e.allAllowed {
		connection := map[string]bool{}
		for _, f := range answer.Values("Connection") {
			for _, name := range splitComma(f) {
				connection[http.CanonicalHeaderKey(name)] = true
			}
		}
		for name, vs := range answer {
			if !excludedUpstream[name] && !connection[name] && callout.SettableHeader(name) {
				dst[name] = append([]string(nil), vs...)
			}
		}
		return
	}
	for _, h := range e.allowed {
		if vs := answer.Values(h); len(vs) > 0 {
			dst[h] = append([]string(nil), vs...)
		}
	}
}

func (e *ExtAuth) failed(w http.ResponseWriter, r *http.Request) bool {
	if e.failOpen {
		return true
	}
	policy.Error(w, r, http.StatusForbidden, "authorization service unavailable")
	return false
}

// removeHopHeaders drops connection-scoped headers (RFC 9110 §7.6.1).
func removeHopHeaders(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range splitComma(f) {
			h.Del(name)
		}
	}
	for _, n := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		h.Del(n)
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if part := trimSpace(s[start:i]); part != "" {
				out = append(out, part)
			}
			start = i + 1
		}
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// browserNavigation reports whether r is a browser loading a page, the only kind of request a
// sign-in redirect helps: an API client or a script's fetch gets the 401 it can act on.
func browserNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

type readCloser struct {
	io.Reader
	io.Closer
}
