package runtime

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// extAuth is a compiled ExtAuth policy; grpc is set for protocol GRPC
// (extauth_grpc.go).
type extAuth struct {
	backend   *upstream.Backend
	grpc      *grpcCheck
	prefix    string
	forward   map[string]bool // canonical names; nil forwards all
	allowed   []string        // canonical names
	signIn    string
	bodyBytes int
	failOpen  bool
	timeout   time.Duration
}

// deniedBodyLimit bounds the denial body relayed to the client.
const deniedBodyLimit = 64 << 10

func newExtAuth(c *config.ExtAuth, env *buildEnv) *extAuth {
	e := &extAuth{backend: env.backends[c.Backend], prefix: c.PathPrefix, signIn: c.SignInRedirectURL, bodyBytes: c.IncludeBodyBytes, failOpen: c.FailOpen, timeout: 2 * time.Second}
	if c.Timeout != nil {
		e.timeout = c.Timeout.Duration
	}
	if c.Protocol == config.ExtAuthGRPC && e.backend != nil {
		e.grpc = &grpcCheck{conn: env.authz.get(e.backend, e.timeout), extensions: c.ContextExtensions, log: env.log}
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
	return e
}

// check asks the service; it reports false after answering the client.
func (e *extAuth) check(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if e.grpc != nil {
		return e.checkGRPC(w, r, act)
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.timeout)
	defer cancel()
	u := *r.URL
	u.Scheme, u.Host = e.backend.Scheme(), "extauth"
	u.Path = e.prefix + r.URL.Path
	if u.RawPath != "" {
		u.RawPath = e.prefix + r.URL.RawPath
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
		buf, err := io.ReadAll(io.LimitReader(r.Body, int64(e.bodyBytes)))
		if err != nil {
			return e.failed(w, r)
		}
		// The backend still gets the whole body: what was read, then
		// the rest.
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		req.Body = io.NopCloser(bytes.NewReader(buf))
		req.ContentLength = int64(len(buf))
	}
	resp, err := e.backend.RoundTrip(req)
	if err != nil {
		return e.failed(w, r)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		for _, h := range e.allowed {
			if vs := resp.Header.Values(h); len(vs) > 0 {
				r.Header[h] = append([]string(nil), vs...)
			}
		}
		act.ExtAuthz = &cel.ExtAuthz{Headers: resp.Header}
		io.Copy(io.Discard, io.LimitReader(resp.Body, deniedBodyLimit))
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
	io.Copy(w, io.LimitReader(resp.Body, deniedBodyLimit))
	return false
}

func (e *extAuth) failed(w http.ResponseWriter, r *http.Request) bool {
	if e.failOpen {
		return true
	}
	localError(w, r, http.StatusForbidden, "authorization service unavailable")
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
