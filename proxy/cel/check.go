package cel

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
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
	// iterations (lists.range(5000).all(...) takes 63 ms tracked, 0.7 ms
	// untracked; three times slower on loop-free expressions), which turns
	// the limit into a CPU amplifier. Without it, evaluations are bounded
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
		phase:   phase,
		kind:    kind,
		expr:    expr,
		prg:     prg,
		outType: checked.OutputType(),
		cost:    est.Max,
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

var (
	reUndeclared    = regexp.MustCompile(`^undeclared reference to '([^']*)' \(in container '[^']*'\)$`)
	reUndefField    = regexp.MustCompile(`^undefined field '([^']*)'$`)
	reNoOverload    = regexp.MustCompile(`^found no matching overload for '([^']*)' applied to '(.*)'$`)
	reSyntaxMessage = regexp.MustCompile(`^Syntax error: `)
	reMemberSig     = regexp.MustCompile(`^([^(]+)\.(\(.*\))$`)
)

// addCELErrors converts cel-go's errors into issues with shorter, more
// actionable messages. parsed, if set, is used to find the expression an
// error is about.
func (c *checkRun) addCELErrors(iss *cel.Issues, parsed *cel.Ast) {
	seen := map[string]bool{}
	for _, e := range iss.Errors() {
		// After the first syntax error the parser's recovery mostly
		// reports noise.
		if parsed == nil && len(c.issues) > 0 {
			break
		}
		msg := c.rewrite(e.Message, e.ExprID, parsed)
		key := fmt.Sprintf("%d:%d:%s", e.Location.Line(), e.Location.Column(), msg)
		if seen[key] {
			continue
		}
		seen[key] = true
		c.add(SeverityError, e.Location, msg)
	}
}

func (c *checkRun) rewrite(msg string, id int64, parsed *cel.Ast) string {
	if reSyntaxMessage.MatchString(msg) {
		return "syntax error: " + simplifySyntax(strings.TrimPrefix(msg, "Syntax error: "))
	}
	if m := reUndeclared.FindStringSubmatch(msg); m != nil {
		return c.undeclared(m[1], exprByID(parsed, id))
	}
	if m := reUndefField.FindStringSubmatch(msg); m != nil {
		return c.undefinedField(m[1], exprByID(parsed, id))
	}
	if m := reNoOverload.FindStringSubmatch(msg); m != nil {
		if op, ok := operators.FindReverse(m[1]); ok && op != "" {
			return fmt.Sprintf("operator '%s' cannot be applied to %s", op, m[2])
		}
		var out string
		if mm := reMemberSig.FindStringSubmatch(m[2]); mm != nil {
			out = fmt.Sprintf("function '%s' cannot be applied to %s on %s", m[1], mm[2], mm[1])
		} else {
			out = fmt.Sprintf("function '%s' cannot be applied to %s", m[1], m[2])
		}
		if sigs := c.signatures(m[1]); sigs != "" {
			out += "; it takes " + sigs
		}
		return out
	}
	return msg
}

var (
	reMismatched  = regexp.MustCompile(`^(?:mismatched|extraneous) input '(.*)' expecting .*$`)
	reNoViable    = regexp.MustCompile(`^no viable alternative at input '(.*)'$`)
	reTokenRecog  = regexp.MustCompile(`^token recognition error at: '(.*)'$`)
	reMissingOpen = regexp.MustCompile(`^missing '(.*)' at '(.*)'$`)
)

// simplifySyntax turns the parser generator's messages into plain ones.
func simplifySyntax(msg string) string {
	if m := reMismatched.FindStringSubmatch(msg); m != nil {
		if m[1] == "<EOF>" {
			return "unexpected end of expression"
		}
		return fmt.Sprintf("unexpected '%s'", m[1])
	}
	if m := reNoViable.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unexpected '%s'", m[1])
	}
	if m := reTokenRecog.FindStringSubmatch(msg); m != nil {
		if strings.HasPrefix(m[1], "'") || strings.HasPrefix(m[1], `"`) {
			return "unterminated string literal"
		}
		r, _ := utf8.DecodeRuneInString(m[1])
		return fmt.Sprintf("unexpected character %q", r)
	}
	if m := reMissingOpen.FindStringSubmatch(msg); m != nil {
		if m[2] == "<EOF>" {
			return fmt.Sprintf("missing '%s' at end of expression", m[1])
		}
		return fmt.Sprintf("missing '%s' before %s", m[1], m[2])
	}
	return msg
}

func (c *checkRun) undeclared(name string, e ast.Expr) string {
	head, _, _ := strings.Cut(name, ".")
	if e != nil && e.Kind() == ast.CallKind {
		fn := e.AsCall().FunctionName()
		msg := fmt.Sprintf("undeclared function '%s'", fn)
		if s := suggest(fn, c.functionNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		return msg
	}
	if _, declared := varTypes[head]; declared {
		return fmt.Sprintf("'%s' is not available in phase %s (only in %s)", head, c.phase, joinOr(phasesWith(head)))
	}
	msg := fmt.Sprintf("undeclared reference to '%s'", head)
	if s := suggest(head, phaseDefs[c.phase].vars); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s'?)", s)
	} else {
		msg += fmt.Sprintf(" (variables: %s)", strings.Join(phaseDefs[c.phase].vars, ", "))
	}
	return msg
}

func (c *checkRun) undefinedField(name string, e ast.Expr) string {
	owner := ""
	if e != nil && e.Kind() == ast.SelectKind {
		if op := e.AsSelect().Operand(); op.Kind() == ast.IdentKind {
			owner = op.AsIdent()
		}
	}
	t, ok := varTypes[owner]
	if !ok {
		return fmt.Sprintf("undefined field '%s'", name)
	}
	if name == "body" && (owner == VarRequest || owner == VarResponse) {
		only := PhaseRequestBody
		if owner == VarResponse {
			only = PhaseResponse
		}
		return fmt.Sprintf("%s.body is not available in phase %s (only in %s)", owner, c.phase, only)
	}
	fields, _ := c.prov.FindStructFieldNames(t.TypeName())
	msg := fmt.Sprintf("undefined field '%s' of %s", name, owner)
	if s := suggest(name, fields); s != "" {
		return msg + fmt.Sprintf(" (did you mean '%s.%s'?)", owner, s)
	}
	return msg + fmt.Sprintf(" (fields: %s)", strings.Join(fields, ", "))
}

// signatures lists the overloads of a function, e.g. "(string) or
// (bytes)", or "" if there are too many to be useful.
func (c *checkRun) signatures(fn string) string {
	decl, ok := c.env.Functions()[fn]
	if !ok {
		return ""
	}
	var sigs []string
	for _, o := range decl.OverloadDecls() {
		args := o.ArgTypes()
		var parts []string
		for _, a := range args {
			parts = append(parts, a.String())
		}
		sig := "(" + strings.Join(parts, ", ") + ")"
		if o.IsMemberFunction() && len(parts) > 0 {
			sig = "(" + strings.Join(parts[1:], ", ") + ") on " + parts[0]
		}
		if !slices.Contains(sigs, sig) {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) == 0 || len(sigs) > 4 {
		return ""
	}
	return joinOr(sigs)
}

func (c *checkRun) functionNames() []string {
	var out []string
	for name := range c.env.Functions() {
		if strings.HasPrefix(name, "_") || strings.HasPrefix(name, "@") || strings.Contains(name, "@") {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func exprByID(parsed *cel.Ast, id int64) ast.Expr {
	if parsed == nil || id == 0 {
		return nil
	}
	found := ast.MatchDescendants(ast.NavigateAST(parsed.NativeRep()), func(e ast.NavigableExpr) bool {
		return e.ID() == id
	})
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

// suggest returns the candidate closest to name, if it is close enough to
// be a typo.
func suggest(name string, candidates []string) string {
	best, bestD := "", 0
	limit := max(1, utf8.RuneCountInString(name)/3)
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (with adjacent
// transpositions), so "hedaers" is one edit from "headers".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return math.MaxInt32
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

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
