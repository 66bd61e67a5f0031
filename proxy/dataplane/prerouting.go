package dataplane

import (
	"fmt"
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/filters"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/extauth"
)

// preRouting is a listener's compiled config.Listener.PreRouting: steps
// run in the configured order (not sorted by phase) before the route is
// looked up. Requests of such a listener are served by net/http's
// handler, never by the fast path.
type preRouting []policy.Step

// newPreRouting compiles a listener's pre-routing filters (nil for none).
func newPreRouting(fs []config.ListenerFilter, env *buildEnv) (preRouting, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	out := make(preRouting, 0, len(fs))
	for i := range fs {
		f := &fs[i]
		switch {
		case f.ExtAuth != nil:
			ea, err := extauth.New(f.ExtAuth, policyEnv{env}, env.authz)
			if err != nil {
				return nil, fmt.Errorf("pre-routing filter %d: %w", i, err)
			}
			out = append(out, ea)
		case f.DirectResponse != nil:
			out = append(out, directStep{filters.NewDirectResponse(f.DirectResponse), f.DirectResponse.StatusCode, f.DirectResponse.Body})
		default:
			return nil, fmt.Errorf("pre-routing filter %d: no filter set", i)
		}
	}
	return out, nil
}

// run runs the steps in order; it reports false after a step answered the
// request. A step cannot change which listener or which host the request
// is routed for: the Host it arrived with is put back after every step
// (and a Host header a step added is dropped), so routing, which happens
// after run, sees the original Host and the other changes (headers, query).
func (p preRouting) run(w http.ResponseWriter, r *http.Request) bool {
	host := r.Host
	act := &cel.Activation{Request: cel.RequestFromHTTP(r), Source: cel.SourceFromHTTP(r)}
	for _, s := range p {
		ok := s.Request(w, r, act)
		r.Host = host
		delete(r.Header, "Host")
		if !ok {
			return false
		}
	}
	return true
}

// directStep answers every request with a fixed response: the filter a
// listener whose pre-routing filter cannot be enforced fails closed with.
// gRPC clients get the status as a gRPC status.
type directStep struct {
	d    *filters.DirectResponse
	code int
	msg  string
}

func (directStep) Phase() policy.Phase { return policy.PhaseLimits }

func (d directStep) Request(w http.ResponseWriter, r *http.Request, _ *cel.Activation) bool {
	if policy.IsGRPC(r) {
		policy.Error(w, r, d.code, d.msg)
	} else {
		d.d.Serve(w)
	}
	return false
}
