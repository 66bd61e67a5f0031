package cel

// Checks beyond type-checking: result types, literals, and soft findings.

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
)

// checkResultType reports a result type that does not fit the field kind;
// dyn passes with a warning, since only the run time knows.
func (c *checkRun) checkResultType(t *cel.Type) {
	var want []*cel.Type
	switch c.kind {
	case KindCondition:
		want = []*cel.Type{cel.BoolType}
	case KindHeaderValue, KindRateLimitKey:
		want = []*cel.Type{cel.StringType}
	case KindBody:
		want = []*cel.Type{cel.StringType, cel.BytesType}
	default:
		return
	}
	names := make([]string, len(want))
	for i, w := range want {
		if t.IsExactType(w) {
			return
		}
		names[i] = w.String()
	}
	if t.Kind() == types.DynKind {
		c.add(SeverityWarning, nil, fmt.Sprintf("expression type is dyn; it must evaluate to %s at run time for %s", strings.Join(names, " or "), c.kind.describe()))
		return
	}
	msg := fmt.Sprintf("expression must return %s for %s, got %s", strings.Join(names, " or "), c.kind.describe(), t)
	if (c.kind == KindHeaderValue || c.kind == KindRateLimitKey) && t.Kind() != types.StructKind {
		msg += "; convert it with string(...)"
	}
	c.add(SeverityError, nil, msg)
}

// checkNondeterminism warns about functions whose result changes between
// calls where a stable value is expected.
func (c *checkRun) checkNondeterminism(checked *cel.Ast) {
	if c.kind != KindRateLimitKey {
		return
	}
	root := ast.NavigateAST(checked.NativeRep())
	for _, call := range ast.MatchDescendants(root, ast.KindMatcher(ast.CallKind)) {
		fn := call.AsCall().FunctionName()
		if nondeterministic[fn] {
			loc := checked.NativeRep().SourceInfo().GetStartLocation(call.ID())
			c.add(SeverityWarning, loc, fmt.Sprintf("%s() returns a new value on every call, so this rate-limit key never repeats", fn))
		}
	}
}

// literalValidator rejects bad timestamp and duration literals, saying
// what format is expected.
type literalValidator struct{}

func (literalValidator) Name() string { return "agentgateway.literals" }

func (literalValidator) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	root := ast.NavigateAST(a)
	for _, call := range ast.MatchDescendants(root, ast.KindMatcher(ast.CallKind)) {
		cl := call.AsCall()
		args := cl.Args()
		if cl.IsMemberFunction() || len(args) != 1 || args[0].Kind() != ast.LiteralKind {
			continue
		}
		lit, ok := args[0].AsLiteral().Value().(string)
		if !ok {
			continue
		}
		switch cl.FunctionName() {
		case overloads.TypeConvertTimestamp:
			if _, err := time.Parse(time.RFC3339, lit); err != nil {
				iss.ReportErrorAtID(args[0].ID(), "invalid timestamp %q: want RFC 3339, like \"2025-01-02T15:04:05Z\"", lit)
			}
		case overloads.TypeConvertDuration:
			if _, err := time.ParseDuration(lit); err != nil {
				iss.ReportErrorAtID(args[0].ID(), "invalid duration %q: want a number and a unit (h, m, s, ms, us, ns), like \"1.5s\"", lit)
			}
		}
	}
}

// pseudoHeaders are header names that never appear in the headers maps,
// with the field to use instead.
var pseudoHeaders = map[string]string{
	"host": "request.host", ":authority": "request.host", ":path": "request.path",
	":method": "request.method", ":scheme": "request.scheme",
}

// checkHeaderKeys warns about header lookups that can never match.
func (c *checkRun) checkHeaderKeys(checked *cel.Ast) {
	a := checked.NativeRep()
	for _, e := range ast.MatchDescendants(ast.NavigateAST(a), ast.AllMatcher()) {
		var operand ast.Expr
		var key string
		switch e.Kind() {
		case ast.SelectKind:
			operand, key = e.AsSelect().Operand(), e.AsSelect().FieldName()
		case ast.CallKind:
			cl := e.AsCall()
			if (cl.FunctionName() != "_[_]" && cl.FunctionName() != "_[?_]") || len(cl.Args()) != 2 || cl.Args()[1].Kind() != ast.LiteralKind {
				continue
			}
			k, ok := cl.Args()[1].AsLiteral().Value().(string)
			if !ok {
				continue
			}
			operand, key = cl.Args()[0], k
		default:
			continue
		}
		if operand.Kind() != ast.SelectKind || operand.AsSelect().FieldName() != "headers" {
			continue
		}
		if use, ok := pseudoHeaders[strings.ToLower(key)]; ok {
			c.add(SeverityWarning, a.SourceInfo().GetStartLocation(e.ID()), fmt.Sprintf("headers never contain %q; use %s", key, use))
		}
	}
}

// checkDynamicRegex warns about patterns computed at run time: they are
// compiled on every evaluation and only validated then.
func (c *checkRun) checkDynamicRegex(checked *cel.Ast) {
	a := checked.NativeRep()
	for _, call := range ast.MatchDescendants(ast.NavigateAST(a), ast.KindMatcher(ast.CallKind)) {
		cl := call.AsCall()
		pos, ok := regexArg[cl.FunctionName()]
		if !ok {
			continue
		}
		i := pos.global
		if cl.IsMemberFunction() {
			i = pos.member
		}
		if args := cl.Args(); i >= 0 && i < len(args) && args[i].Kind() != ast.LiteralKind {
			c.add(SeverityWarning, a.SourceInfo().GetStartLocation(args[i].ID()), fmt.Sprintf("the pattern of %s() is computed at run time, so it is compiled on every evaluation and cannot be checked now", cl.FunctionName()))
		}
	}
}

// regexValidator rejects bad regular expression literals with the reason,
// for matches() and the regex extension functions.
type regexValidator struct{}

// regexArg is the position of the pattern among a call's arguments.
var regexArg = map[string]struct{ member, global int }{
	"matches":          {member: 0, global: 1},
	"regex.replace":    {member: -1, global: 1},
	"regex.extract":    {member: -1, global: 1},
	"regex.extractAll": {member: -1, global: 1},
}

func (regexValidator) Name() string { return "agentgateway.regex" }

func (regexValidator) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	root := ast.NavigateAST(a)
	for _, call := range ast.MatchDescendants(root, ast.KindMatcher(ast.CallKind)) {
		cl := call.AsCall()
		pos, ok := regexArg[cl.FunctionName()]
		if !ok {
			continue
		}
		i := pos.global
		if cl.IsMemberFunction() {
			i = pos.member
		}
		args := cl.Args()
		if i < 0 || i >= len(args) || args[i].Kind() != ast.LiteralKind {
			continue
		}
		pattern, ok := args[i].AsLiteral().Value().(string)
		if !ok {
			continue
		}
		if _, err := regexp.Compile(pattern); err != nil {
			reason := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				reason = se.Code.String()
				if se.Expr != pattern {
					reason += fmt.Sprintf(" in %q", se.Expr)
				}
			}
			iss.ReportErrorAtID(args[i].ID(), "invalid regular expression %q: %s", pattern, reason)
		}
	}
}

// comprehensionDepth is the deepest nesting of loops in e. cel.bind
// compiles to a loop over an empty list, which does not count.
func comprehensionDepth(e ast.Expr) int {
	d := 0
	for _, child := range ast.NavigateExpr(nil, e).Children() {
		d = max(d, comprehensionDepth(child))
	}
	if e.Kind() == ast.ComprehensionKind {
		r := e.AsComprehension().IterRange()
		if !(r.Kind() == ast.ListKind && len(r.AsList().Elements()) == 0) {
			d++
		}
	}
	return d
}
