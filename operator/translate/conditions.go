package translate

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conds collects conditions of one object. Later sets of the same type replace earlier ones,
// so a step can first assume success and then record a failure.
type conds struct {
	gen int64
	m   map[string]metav1.Condition
}

func newConds(gen int64) *conds { return &conds{gen: gen, m: map[string]metav1.Condition{}} }

func (c *conds) set(typ string, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	c.m[typ] = metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: c.gen}
}

// setIfOK sets the condition only when no failure of that type is recorded yet: the first
// failure explains the problem best.
func (c *conds) fail(typ, reason, msg string) {
	if old, ok := c.m[typ]; ok && old.Status == metav1.ConditionFalse {
		return
	}
	c.set(typ, false, reason, msg)
}

func (c *conds) isFalse(typ string) bool {
	old, ok := c.m[typ]
	return ok && old.Status == metav1.ConditionFalse
}

func (c *conds) get(typ string) (metav1.Condition, bool) {
	v, ok := c.m[typ]
	return v, ok
}

// list returns the conditions sorted by type, for deterministic output.
func (c *conds) list() []metav1.Condition {
	out := make([]metav1.Condition, 0, len(c.m))
	for _, v := range c.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
