package translate

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conds collects conditions of one object. Later sets of the same type replace earlier ones,
// so a step can first assume success and then record a failure.
//
// An object has a handful of condition types, and there is one conds per route and per
// route parent: a short slice searched linearly costs a fraction of a map's allocations.
type conds struct {
	gen int64
	l   []metav1.Condition // at most one per type, in the order first set
}

func newConds(gen int64) *conds { return &conds{gen: gen} }

func (c *conds) set(typ string, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	c.put(metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: c.gen})
}

// put records a condition as it is, replacing any of the same type.
func (c *conds) put(v metav1.Condition) {
	for i := range c.l {
		if c.l[i].Type == v.Type {
			c.l[i] = v
			return
		}
	}
	c.l = append(c.l, v)
}

// fail records a failure only when none of that type is recorded yet: the first failure
// explains the problem best.
func (c *conds) fail(typ, reason, msg string) {
	if old, ok := c.get(typ); ok && old.Status == metav1.ConditionFalse {
		return
	}
	c.set(typ, false, reason, msg)
}

func (c *conds) isFalse(typ string) bool {
	old, ok := c.get(typ)
	return ok && old.Status == metav1.ConditionFalse
}

func (c *conds) get(typ string) (metav1.Condition, bool) {
	for i := range c.l {
		if c.l[i].Type == typ {
			return c.l[i], true
		}
	}
	return metav1.Condition{}, false
}

// list returns a copy of the conditions sorted by type, for deterministic output.
func (c *conds) list() []metav1.Condition {
	out := make([]metav1.Condition, 0, len(c.l))
	out = append(out, c.l...)
	sortConds(out)
	return out
}

// sortConds sorts conditions by type; types are unique, so the order is total.
func sortConds(l []metav1.Condition) {
	slices.SortFunc(l, func(a, b metav1.Condition) int { return strings.Compare(a.Type, b.Type) })
}
