package cel

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
)

// Severity says whether an Issue rejects the expression.
type Severity int

const (
	// SeverityError rejects the expression.
	SeverityError Severity = iota
	// SeverityWarning is a soft finding; the expression is accepted.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Issue is one problem found in an expression.
type Issue struct {
	Severity Severity
	// Line and Column (both 1-based, Column in characters) locate the
	// problem; both are 0 when it concerns the whole expression.
	Line, Column int
	Message      string
}

// String formats the issue as "line:column: message", or the bare message
// when the issue has no position.
func (i Issue) String() string {
	if i.Line == 0 {
		return i.Message
	}
	return fmt.Sprintf("%d:%d: %s", i.Line, i.Column, i.Message)
}

// HasErrors reports whether any issue is an error.
func HasErrors(issues []Issue) bool {
	for _, i := range issues {
		if i.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns the errors among issues joined into one error, or nil.
func Errors(issues []Issue) error {
	var msgs []string
	for _, i := range issues {
		if i.Severity == SeverityError {
			msgs = append(msgs, i.String())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Limits bound what an expression may cost.
type Limits struct {
	// MaxLength is the longest expression accepted, in characters.
	MaxLength int
	// MaxCost bounds the static cost estimate (CEL cost units, about one
	// per operation, a tenth per character scanned).
	MaxCost uint64
	// MaxRuntimeCost, if not 0, turns on cel-go's runtime cost tracking and
	// stops an evaluation that costs more. It is off by default: in cel-go
	// v0.31 the tracker's bookkeeping grows with the square of the loop
	// iterations and slows loop-free expressions too (figures in
	// docs/performance-history.md; no benchmark here measures it), which
	// turns the limit into a CPU amplifier. Without it, evaluations are bounded
	// by the static estimate, because the inputs stay within the sizes it
	// assumes: loops over more than MaxHeaders headers or MaxQueryParams
	// query parameters fail, and the proxy caps header and body sizes.
	// Context cancellation interrupts loops either way.
	MaxRuntimeCost uint64
}

// DefaultLimits are the limits of Check and Compile.
var DefaultLimits = Limits{
	MaxLength: 4096,
	MaxCost:   1_000_000,
}

// Check parses, type-checks and cost-checks expr as a field of the given
// kind in the given phase. It returns every issue found, errors and
// warnings; the Program is nil exactly when there is an error.
func Check(phase Phase, kind Kind, expr string) (*Program, []Issue) {
	return CheckWithLimits(phase, kind, expr, DefaultLimits)
}

// Compile is Check for callers that only need a yes or no: it returns the
// errors as one error and drops warnings.
func Compile(phase Phase, kind Kind, expr string) (*Program, error) {
	p, issues := Check(phase, kind, expr)
	if p == nil {
		return nil, Errors(issues)
	}
	return p, nil
}

// CheckWithLimits is Check with explicit limits.
func CheckWithLimits(phase Phase, kind Kind, expr string, limits Limits) (*Program, []Issue) {
	if !phase.valid() {
		return nil, []Issue{{Message: fmt.Sprintf("unknown phase %q", phase)}}
	}
	if !kind.valid() {
		return nil, []Issue{{Message: fmt.Sprintf("unknown field kind %q", kind)}}
	}
	if n := utf8.RuneCountInString(expr); limits.MaxLength > 0 && n > limits.MaxLength {
		return nil, []Issue{{Message: fmt.Sprintf("expression too long (%d characters, limit %d)", n, limits.MaxLength)}}
	}
	if strings.TrimSpace(expr) == "" {
		return nil, []Issue{{Message: "expression is empty"}}
	}
	env, prov, err := envFor(phase)
	if err != nil {
		return nil, []Issue{{Message: err.Error()}}
	}
	c := &checkRun{phase: phase, kind: kind, env: env, prov: prov}

	parsed, iss := env.Parse(expr)
	if iss.Err() != nil {
		c.addCELErrors(iss, nil)
		return nil, c.issues
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		c.addCELErrors(iss, parsed)
		return nil, c.issues
	}
	c.checkResultType(checked.OutputType())
	c.checkNondeterminism(checked)
	c.checkHeaderKeys(checked)
	c.checkDynamicRegex(checked)
	if HasErrors(c.issues) {
		return nil, c.issues
	}

	est, err := env.EstimateCost(checked, sizeEstimator{})
	if err != nil {
		c.add(SeverityError, nil, fmt.Sprintf("estimating cost: %v", err))
		return nil, c.issues
	}
	if limits.MaxCost > 0 && est.Max > limits.MaxCost {
		if est.Max == math.MaxUint64 {
			c.add(SeverityError, nil, fmt.Sprintf("expression too expensive (estimated cost is unbounded, limit %d)", limits.MaxCost))
		} else {
			msg := fmt.Sprintf("expression too expensive (estimated cost %d exceeds limit %d)", est.Max, limits.MaxCost)
			if comprehensionDepth(checked.NativeRep().Expr()) > 1 {
				msg += "; avoid nested loops (all, exists, map, filter) over headers, query or claims"
			}
			c.add(SeverityError, nil, msg)
		}
		return nil, c.issues
	}

	popts := []cel.ProgramOption{
		cel.EvalOptions(cel.OptOptimize),
		cel.InterruptCheckFrequency(interruptEvery),
	}
	if limits.MaxRuntimeCost > 0 {
		popts = append(popts, cel.CostTracking(runtimeCost{}), cel.CostLimit(limits.MaxRuntimeCost))
	}
	prg, err := env.Program(checked, popts...)
	if err != nil {
		c.add(SeverityError, nil, err.Error())
		return nil, c.issues
	}
	return &Program{
		phase: phase,
		kind:  kind,
		expr:  expr,
		prg:   prg,
		cost:  est.Max,
	}, c.issues
}

// interruptEvery is how many comprehension iterations run between checks
// of the evaluation context.
const interruptEvery = 100

type checkRun struct {
	phase  Phase
	kind   Kind
	env    *cel.Env
	prov   *provider
	issues []Issue
}

type located interface {
	Line() int
	Column() int
}

func (c *checkRun) add(sev Severity, loc located, msg string) {
	i := Issue{Severity: sev, Message: msg}
	if loc != nil && loc.Line() > 0 {
		i.Line, i.Column = loc.Line(), loc.Column()+1
	}
	c.issues = append(c.issues, i)
}
