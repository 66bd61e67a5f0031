package cel

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// Phase is a point in the request path where expressions run. It decides
// which variables an expression can read.
type Phase string

// The phases, in the order a request meets them: authentication (jwt,
// apiKey, basic) and external authorization run first, then Authorization
// rules, rate limiting, request transformation, the backend call, response
// transformation and the access log.
const (
	// Authorization rules (allow/deny/require), after authentication and
	// external authorization.
	PhaseAuthorization Phase = "Authorization"
	// RateLimitDescriptor builds rate-limit keys.
	PhaseRateLimitDescriptor Phase = "RateLimitDescriptor"
	// RequestHeaders transforms request headers and evaluates conditions
	// before the body is read.
	PhaseRequestHeaders Phase = "RequestHeaders"
	// RequestBody is RequestHeaders plus the buffered request body.
	PhaseRequestBody Phase = "RequestBody"
	// Response transforms the response; the buffered response body is readable.
	PhaseResponse Phase = "Response"
	// AccessLog computes access-log fields after the response was sent.
	PhaseAccessLog Phase = "AccessLog"
	// MCPAuthorization rules decide each MCP operation of an MCP backend
	// (tools/call, prompts/get, resources/read) and which tools and
	// prompts tools/list and prompts/list show.
	PhaseMCPAuthorization Phase = "MCPAuthorization"
	// Tracing decides whether a request is traced and computes span
	// attributes when the request arrives, before routing: only the
	// request and its source are known.
	PhaseTracing Phase = "Tracing"
)

// Kind is what a field expects its expression to return.
type Kind string

const (
	// KindCondition returns bool (conditions, authorization rules).
	KindCondition Kind = "Condition"
	// KindHeaderValue returns string.
	KindHeaderValue Kind = "HeaderValue"
	// KindBody returns string or bytes.
	KindBody Kind = "Body"
	// KindRateLimitKey returns string.
	KindRateLimitKey Kind = "RateLimitKey"
	// KindAny returns any type (access-log fields, metadata).
	KindAny Kind = "Any"
)

// Variable names.
const (
	VarRequest  = "request"
	VarResponse = "response"
	VarSource   = "source"
	VarJWT      = "jwt"
	VarAPIKey   = "apiKey"
	VarBackend  = "backend"
	VarExtAuthz = "extauthz"
	VarMCP      = "mcp"
)

// phaseDef is the declared environment of one phase.
type phaseDef struct {
	vars         []string
	requestBody  bool
	responseBody bool
}

var phaseDefs = map[Phase]phaseDef{
	PhaseAuthorization:       {vars: []string{VarRequest, VarSource, VarJWT, VarAPIKey, VarExtAuthz}},
	PhaseRateLimitDescriptor: {vars: []string{VarRequest, VarSource, VarJWT, VarAPIKey, VarExtAuthz}},
	PhaseRequestHeaders:      {vars: []string{VarRequest, VarSource, VarJWT, VarAPIKey, VarExtAuthz, VarBackend}},
	PhaseRequestBody:         {vars: []string{VarRequest, VarSource, VarJWT, VarAPIKey, VarExtAuthz, VarBackend}, requestBody: true},
	PhaseResponse:            {vars: []string{VarRequest, VarResponse, VarSource, VarJWT, VarAPIKey, VarExtAuthz, VarBackend}, responseBody: true},
	PhaseAccessLog:           {vars: []string{VarRequest, VarResponse, VarSource, VarJWT, VarAPIKey, VarExtAuthz, VarBackend}},
	PhaseMCPAuthorization:    {vars: []string{VarRequest, VarSource, VarJWT, VarAPIKey, VarExtAuthz, VarMCP}},
	PhaseTracing:             {vars: []string{VarRequest, VarSource}},
}

var varTypes = map[string]*cel.Type{
	VarRequest:  requestType,
	VarResponse: responseType,
	VarSource:   sourceType,
	VarJWT:      jwtType,
	VarAPIKey:   apiKeyType,
	VarBackend:  backendType,
	VarExtAuthz: extAuthzType,
	VarMCP:      mcpType,
}

// Phases returns every phase, in request order.
func Phases() []Phase {
	return []Phase{PhaseTracing, PhaseAuthorization, PhaseRateLimitDescriptor, PhaseRequestHeaders, PhaseRequestBody, PhaseResponse, PhaseAccessLog, PhaseMCPAuthorization}
}

// Kinds returns every field kind.
func Kinds() []Kind {
	return []Kind{KindCondition, KindHeaderValue, KindBody, KindRateLimitKey, KindAny}
}

// Variables returns the variables an expression of the phase can read, or
// nil for an unknown phase.
func (p Phase) Variables() []string {
	return append([]string(nil), phaseDefs[p].vars...)
}

func (p Phase) valid() bool { _, ok := phaseDefs[p]; return ok }

func (k Kind) valid() bool {
	switch k {
	case KindCondition, KindHeaderValue, KindBody, KindRateLimitKey, KindAny:
		return true
	}
	return false
}

// describe names what a kind is for, in messages.
func (k Kind) describe() string {
	switch k {
	case KindCondition:
		return "a condition"
	case KindHeaderValue:
		return "a header value"
	case KindBody:
		return "a body"
	case KindRateLimitKey:
		return "a rate-limit key"
	}
	return "this field"
}

// envs holds one environment per phase. cel.Env is safe for concurrent use.
var envs sync.Map // Phase -> *envEntry

type envEntry struct {
	once sync.Once
	env  *cel.Env
	prov *provider
	err  error
}

func envFor(p Phase) (*cel.Env, *provider, error) {
	e, _ := envs.LoadOrStore(p, &envEntry{})
	entry := e.(*envEntry)
	entry.once.Do(func() { entry.env, entry.prov, entry.err = newEnv(p) })
	return entry.env, entry.prov, entry.err
}

func newEnv(p Phase) (*cel.Env, *provider, error) {
	def, ok := phaseDefs[p]
	if !ok {
		return nil, nil, fmt.Errorf("unknown phase %q", p)
	}
	var prov *provider
	opts := []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(),
		ext.Encoders(),
		ext.Math(),
		ext.Lists(),
		ext.Sets(),
		ext.Regex(),
		ext.Bindings(),
		ext.Network(),
		ext.TwoVarComprehensions(),
		func(e *cel.Env) (*cel.Env, error) {
			prov = newProvider(e.CELTypeProvider(), def.requestBody, def.responseBody)
			return cel.CustomTypeProvider(prov)(e)
		},
		cel.ASTValidators(
			literalValidator{},
			regexValidator{},
		),
	}
	for _, v := range def.vars {
		opts = append(opts, cel.Variable(v, varTypes[v]))
	}
	opts = append(opts, functions()...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("building CEL environment of phase %s: %w", p, err)
	}
	return env, prov, nil
}

// phasesWith lists the phases that declare a variable, for messages.
func phasesWith(v string) []string {
	var out []string
	for _, p := range Phases() {
		for _, pv := range phaseDefs[p].vars {
			if pv == v {
				out = append(out, string(p))
			}
		}
	}
	return out
}

func joinOr(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
