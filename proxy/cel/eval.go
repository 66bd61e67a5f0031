package cel

import (
	"context"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// Program is a checked expression, ready to evaluate. It is safe for
// concurrent use.
type Program struct {
	phase Phase
	kind  Kind
	expr  string
	prg   cel.Program
	cost  uint64
}

// Phase returns the phase the program was checked for.
func (p *Program) Phase() Phase { return p.phase }

// Kind returns the field kind the program was checked for.
func (p *Program) Kind() Kind { return p.kind }

// Expression returns the source text.
func (p *Program) Expression() string { return p.expr }

// EstimatedCost returns the static worst-case cost estimate.
func (p *Program) EstimatedCost() uint64 { return p.cost }

// Activation holds the variables of one evaluation. A nil field reads as an
// empty value (empty strings and maps, zero numbers), so `has(jwt.sub)` is
// false on an unauthenticated request. The proxy fills one Activation per
// request and reuses it across that request's expressions.
type Activation struct {
	Request  *Request
	Response *Response
	Source   *Source
	JWT      *JWT
	APIKey   *APIKey
	Backend  *Backend
	ExtAuthz *ExtAuthz
	MCP      *MCP
}

var (
	emptyRequest  = &Request{}
	emptyResponse = &Response{}
	emptySource   = &Source{}
	emptyJWT      = &JWT{}
	emptyAPIKey   = &APIKey{}
	emptyBackend  = &Backend{}
	emptyExtAuthz = &ExtAuthz{}
	emptyMCP      = &MCP{}
)

// activation adapts Activation to the interpreter; being a single pointer,
// wrapping it costs no allocation.
type activation struct{ a *Activation }

func orEmpty[T any](p, empty *T) objVal[T] {
	if p == nil {
		return objVal[T]{empty}
	}
	return objVal[T]{p}
}

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarRequest:
		return orEmpty(a.a.Request, emptyRequest), true
	case VarResponse:
		return orEmpty(a.a.Response, emptyResponse), true
	case VarSource:
		return orEmpty(a.a.Source, emptySource), true
	case VarJWT:
		return orEmpty(a.a.JWT, emptyJWT), true
	case VarAPIKey:
		return orEmpty(a.a.APIKey, emptyAPIKey), true
	case VarBackend:
		return orEmpty(a.a.Backend, emptyBackend), true
	case VarExtAuthz:
		return orEmpty(a.a.ExtAuthz, emptyExtAuthz), true
	case VarMCP:
		return orEmpty(a.a.MCP, emptyMCP), true
	}
	return nil, false
}

func (activation) Parent() interpreter.Activation { return nil }

func (p *Program) eval(ctx context.Context, act *Activation) (ref.Val, error) {
	if act == nil {
		act = &Activation{}
	}
	out, _, err := p.prg.ContextEval(ctx, activation{act})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Eval evaluates the program and returns its result as a plain Go value:
// bool, int64, uint64, float64, string, []byte, nil, []any, map[string]any
// (or the cel-go value for other types).
func (p *Program) Eval(ctx context.Context, act *Activation) (any, error) {
	out, err := p.eval(ctx, act)
	if err != nil {
		return nil, err
	}
	if n, err := toNative(out, 0); err == nil {
		if b, ok := n.([]byte); ok {
			return b, nil
		}
		return n, nil
	}
	return out.Value(), nil
}

// EvalBool evaluates a Condition.
func (p *Program) EvalBool(ctx context.Context, act *Activation) (bool, error) {
	out, err := p.eval(ctx, act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression returned %s, want bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// EvalString evaluates a HeaderValue or RateLimitKey.
func (p *Program) EvalString(ctx context.Context, act *Activation) (string, error) {
	out, err := p.eval(ctx, act)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("expression returned %s, want string", out.Type().TypeName())
	}
	return string(s), nil
}

// EvalBytes evaluates a Body: a string result is returned as its UTF-8 bytes.
func (p *Program) EvalBytes(ctx context.Context, act *Activation) ([]byte, error) {
	out, err := p.eval(ctx, act)
	if err != nil {
		return nil, err
	}
	switch v := out.(type) {
	case types.Bytes:
		return []byte(v), nil
	case types.String:
		return []byte(v), nil
	}
	return nil, fmt.Errorf("expression returned %s, want string or bytes", out.Type().TypeName())
}
