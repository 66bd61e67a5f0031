package dataplane

import (
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// backendAuths maps the backends with credentials (config.BackendAuth) to
// their Authorization value.
func backendAuths(backends []config.Backend) map[string]string {
	var out map[string]string
	for i := range backends {
		if a := backends[i].Auth; a != nil {
			if out == nil {
				out = map[string]string{}
			}
			out[backends[i].Name] = a.Authorization
		}
	}
	return out
}

// withBackendAuth wraps the transport of a backendRef so every attempt
// carries the backend's credentials in place of the client's. Such a
// transport is not an *upstream.Backend, so fastEligible leaves the rule
// to net/http.
func withBackendAuth(env *buildEnv, backend string, next http.RoundTripper) http.RoundTripper {
	v, ok := env.auth[backend]
	if !ok {
		return next
	}
	return authTransport{next: next, value: v}
}

type authTransport struct {
	next  http.RoundTripper
	value string
}

// RoundTrip sets the header on the outgoing request, which the reverse
// proxy made for this exchange (never the client's own).
func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set("Authorization", t.value)
	return t.next.RoundTrip(r)
}
