package translate

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"golang.org/x/net/http/httpguts"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// authFilter is the state of a rule's ExternalAuth filter.
type authFilter int8

const (
	authFilterNone   authFilter = iota
	authFilterActive            // in the built rule's Traffic.ExtAuth
	authFilterClosed            // cannot be used: the rule answers 500
)

// externalAuthClosed answers the requests of a rule whose ExternalAuth filter cannot be
// used: the spec says the filter fails closed, and 500 (not 403) says it is a configuration
// problem, as for an unresolvable backendRef. The body names no backend: clients see it.
const externalAuthClosed = "agentgateway: cannot enforce the ExternalAuth filter; refusing the request"

// externalAuthFilter maps a Gateway API ExternalAuth filter (GEP-1494) onto the proxy's ext
// auth, as the rule's traffic ExtAuth. The fields follow the filter's spec:
//
//   - HTTP: only a 200 allows (Require200); the service gets the method, path (after
//     http.path), Host, Authorization and the allowedHeaders, and a Content-Length that
//     matches the body it is sent; allowedResponseHeaders are copied onto the request, every
//     answer header when the list is empty (AllUpstreamHeaders: the proxy still leaves out
//     Host and the headers describing the answer itself, which would corrupt the request).
//   - GRPC: the Envoy ext_authz v3 protocol; allowedHeaders limits the headers sent (all
//     when empty).
//   - forwardBody.maxSize: that many body bytes are sent; a longer body is refused with 413
//     before the service is asked (the filter's spec; its maxSize comment mentions truncating,
//     but a decision on part of a body could be wrong about the whole).
//   - Failures fail closed: an unreachable service, a timeout (2s) or an error answer is a
//     403; a backendRef that cannot be resolved, or a gRPC service behind TLS (which the proxy
//     cannot speak yet), makes the rule answer 500 with ResolvedRefs=False.
//
// It reports why the rule must fail closed, or "". A value the proxy cannot use (a dot
// segment in http.path, an invalid header name) rejects the route instead.
func (t *translator) externalAuthFilter(r *routeIR, i int, f *gwv1.HTTPExternalAuthFilter, out *config.HTTPRouteRule, b *builtRoute) (closed bool) {
	if f == nil {
		r.rejected = fmt.Sprintf("rule %d: filter type ExternalAuth without externalAuth settings", i)
		return false
	}
	if out.Traffic != nil {
		r.rejected = fmt.Sprintf("rule %d: more than one ExternalAuth filter; agentgateway runs one per rule", i)
		return false
	}
	ea, refErr, err := t.externalAuthConfig(r.key.Kind, r.meta.Namespace, f)
	if err != nil {
		r.rejected = fmt.Sprintf("rule %d: ExternalAuth %v", i, err)
		return false
	}
	if refErr != nil {
		r.resolved.fail(string(gwv1.RouteConditionResolvedRefs), refErr.reason,
			fmt.Sprintf("rule %d: ExternalAuth backendRef: %s; the rule answers 500", i, refErr.msg))
		return true
	}
	b.addBackend(ea.Backend)
	out.Traffic = &config.TrafficPolicy{ExtAuth: ea}
	return false
}

// externalAuthConfig maps an ExternalAuth filter of an object of kind fromKind in fromNs
// (a route, or a Gateway or ListenerSet for a listener filter) onto the proxy's ExtAuth, as
// externalAuthFilter describes. A backendRef that cannot be resolved is refErr (the filter
// must fail closed); a value the proxy cannot use is err.
func (t *translator) externalAuthConfig(fromKind, fromNs string, f *gwv1.HTTPExternalAuthFilter) (*config.ExtAuth, *refError, error) {
	grpc := f.ExternalAuthProtocol == gwv1.HTTPRouteExternalAuthGRPCProtocol
	mode := modeHTTP
	if grpc {
		mode = modeGRPC
	}
	name, refErr := t.resolveBackend(fromKind, fromNs, f.BackendRef, mode)
	if refErr != nil {
		return nil, refErr, nil
	}
	ea := &config.ExtAuth{Backend: name}
	var allowed []string
	if grpc {
		ea.Protocol = config.ExtAuthGRPC
		if g := f.GRPCAuthConfig; g != nil {
			allowed = g.AllowedRequestHeaders
		}
	} else {
		// Authorization must always reach the service; an empty list means only it.
		allowed = []string{"Authorization"}
		ea.Require200 = true
		if h := f.HTTPAuthConfig; h != nil {
			allowed = append(allowed, h.AllowedRequestHeaders...)
			prefix, err := authPathPrefix(h.Path)
			if err != nil {
				return nil, nil, fmt.Errorf("http.path: %w", err)
			}
			ea.PathPrefix = prefix
			ea.AllowedUpstreamHeaders = headerSet(h.AllowedResponseHeaders)
		}
		ea.AllUpstreamHeaders = len(ea.AllowedUpstreamHeaders) == 0
	}
	ea.ForwardHeaders = headerSet(allowed)
	for _, h := range append(append([]string(nil), ea.ForwardHeaders...), ea.AllowedUpstreamHeaders...) {
		if !httpguts.ValidHeaderFieldName(h) {
			return nil, nil, fmt.Errorf("header %q: not a valid header name", h)
		}
	}
	if fb := f.ForwardBody; fb != nil && fb.MaxSize > 0 {
		ea.IncludeBodyBytes, ea.RejectLargeBody = int(fb.MaxSize), true
	}
	return ea, nil, nil
}

// headerSet drops repeated header names (case-insensitively), keeping the first spelling.
func headerSet(hs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hs {
		k := strings.ToLower(h)
		if !seen[k] {
			seen[k] = true
			out = append(out, h)
		}
	}
	return out
}

// authPathPrefix sanitizes an ExternalAuth http.path, as the spec asks: percent-escapes are
// decoded (the proxy escapes the path it sends), a leading slash is added and repeated or
// trailing ones dropped (the request path brings its own), and dot segments or control
// characters are refused, since they would move the check to another path on the
// authorization server.
func authPathPrefix(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("%q: %w", p, err)
	}
	for _, c := range dec {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%q: control characters are not allowed", p)
		}
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("%q: . and .. segments are not allowed", p)
		}
	}
	clean := path.Clean("/" + dec)
	if clean == "/" {
		return "", nil
	}
	return clean, nil
}

// checkExternalAuthFilters fails closed the rules whose ExternalAuth service became unusable
// once backend TLS is final (BackendTLSPolicies and backend policies run after the routes
// are built): a backend whose TLS policy is invalid. Plaintext would be a silent downgrade,
// skipping the check would expose the backend.
func (t *translator) checkExternalAuthFilters() {
	for _, r := range t.routes {
		if r.built == nil || r.built.http == nil || r.http == nil {
			continue
		}
		for i := range r.built.http.Rules {
			rule := &r.built.http.Rules[i]
			if rule.Traffic == nil || rule.Traffic.ExtAuth == nil {
				continue
			}
			ea := rule.Traffic.ExtAuth
			if be := t.backends[ea.Backend]; be == nil || be.invalid != "" {
				// The TLS policy's own status says why, as for a backendRef to the same
				// backend.
				closeExternalAuth(rule)
				r.built.auth[i] = authFilterClosed
			}
		}
	}
}

// closeExternalAuth makes a rule answer 500 instead of running without its ExternalAuth.
func closeExternalAuth(rule *config.HTTPRouteRule) {
	rule.Filters = []config.HTTPFilter{{DirectResponse: &config.DirectResponse{StatusCode: 500, Body: externalAuthClosed}}}
	rule.BackendRefs = nil
	rule.Traffic = nil
}
