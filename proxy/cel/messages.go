package cel

// Rewriting cel-go's errors into short, actionable messages.

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

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
	var t *types.Type
	if e != nil && e.Kind() == ast.SelectKind {
		owner, t = c.selectOwner(e.AsSelect().Operand())
	}
	if t == nil {
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

// selectOwner names the operand of a field selection ("mcp.tool") and
// returns its object type, or nil when it is not a variable or a field of
// one.
func (c *checkRun) selectOwner(op ast.Expr) (string, *types.Type) {
	switch op.Kind() {
	case ast.IdentKind:
		return op.AsIdent(), varTypes[op.AsIdent()]
	case ast.SelectKind:
		s := op.AsSelect()
		parent, pt := c.selectOwner(s.Operand())
		if pt == nil {
			return "", nil
		}
		ft, ok := c.prov.FindStructFieldType(pt.TypeName(), s.FieldName())
		if !ok || ft.Type.Kind() != types.StructKind {
			return "", nil
		}
		return parent + "." + s.FieldName(), ft.Type
	}
	return "", nil
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
