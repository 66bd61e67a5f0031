// Package policy is the interface between the request path and the traffic
// policies of a rule. Each policy (authentication, CSRF, ext auth,
// authorization, rate limits, body limits, transformation) lives in a
// package of its own under proxy/policy, compiled at config time by its New
// into a Step. The data plane sorts a rule's steps by Phase and calls them
// in that order for every request the rule serves; a step that rejects the
// request writes the answer itself and stops the request there.
//
// Phases run in this order, and the steps of one phase in the order listed
// (jwt, API key, basic; the local limits, then the global one). CEL() maps
// a phase to the phase of proxy/cel whose variables its steps read or fill:
//
//	phase           policies                         CEL phase (proxy/cel)
//	Limits          bodylimit                        -
//	Authentication  jwtauth, apikey, basicauth       Authorization (fills jwt, apiKey)
//	CSRF            csrf                             -
//	ExtAuth         extauth                          Authorization (fills extauthz)
//	Authorization   authz                            Authorization
//	RateLimit       localratelimit, globalratelimit  RateLimitDescriptor
//	Transform       transform                        RequestHeaders, RequestBody; Response on the way back
package policy

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// Phase orders the steps of a rule: lower phases run first.
type Phase int

// The phases, in request order.
const (
	PhaseLimits Phase = iota
	PhaseAuthentication
	PhaseCSRF
	PhaseExtAuth
	PhaseAuthorization
	PhaseRateLimit
	PhaseTransform
)

var phaseNames = [...]string{"Limits", "Authentication", "CSRF", "ExtAuth", "Authorization", "RateLimit", "Transform"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "Phase(" + strconv.Itoa(int(p)) + ")"
}

// CEL is the phase of proxy/cel whose expressions the phase's steps
// evaluate (and whose variables they fill in); "" for phases that
// evaluate none.
func (p Phase) CEL() cel.Phase {
	switch p {
	case PhaseAuthentication, PhaseExtAuth, PhaseAuthorization:
		return cel.PhaseAuthorization
	case PhaseRateLimit:
		return cel.PhaseRateLimitDescriptor
	case PhaseTransform:
		return cel.PhaseRequestHeaders
	default:
		return ""
	}
}

// Step is one compiled policy of a rule, on the request path.
type Step interface {
	Phase() Phase
	// Request runs the policy for r. act holds the CEL variables of the
	// request; a step may fill in the ones it produces (jwt, apiKey,
	// extauthz) for later phases. It reports false after writing the
	// answer to w (the request goes no further), true to go on.
	Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool
}

// ResponseStep is a Step that also acts on the backend's response, before
// it is relayed: the data plane calls Response, in phase order, from the
// reverse proxy's response hook. act is nil when the request had no CEL
// variables. An error fails the exchange (502, or what the error handler
// makes of it).
type ResponseStep interface {
	Step
	Response(resp *http.Response, act *cel.Activation) error
}

// Env is what policies need from the config being built.
type Env interface {
	// Backend returns the config's backend named name, or nil.
	Backend(name string) *upstream.Backend
	// Logger receives the policies' debug lines (failed calls to a
	// service).
	Logger() Logger
}

// Logger is the part of slog.Logger the policies use.
type Logger interface {
	Debug(msg string, args ...any)
}

// Error answers a request the proxy itself rejects. gRPC clients only
// understand errors as grpc-status (an HTTP 200 with the status in the
// headers, a "trailers-only" response), so gRPC requests get the status
// code gRPC maps from the HTTP one instead of a text body.
func Error(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if IsGRPC(r) {
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(GRPCStatus(code)))
		h.Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Error(w, msg, code)
}

// IsGRPC reports whether r is a gRPC request.
func IsGRPC(r *http.Request) bool {
	return r.ProtoMajor >= 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// GRPCStatus maps an HTTP status to a gRPC code, as the gRPC HTTP/2
// protocol document does for proxies.
func GRPCStatus(code int) int {
	switch code {
	case http.StatusBadRequest:
		return 13 // INTERNAL
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case http.StatusNotFound:
		return 12 // UNIMPLEMENTED
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	case http.StatusGatewayTimeout:
		return 4 // DEADLINE_EXCEEDED
	default:
		return 2 // UNKNOWN
	}
}

// RetryAfter renders a wait as Retry-After seconds, rounded up: a client that
// comes back sooner would only be refused again.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}
