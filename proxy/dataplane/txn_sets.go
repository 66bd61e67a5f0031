package dataplane

import (
	"maps"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/policy/localratelimit"
)

// stagedSets are the limiter, retry budget and ext-auth connection sets a
// config is built with: copies of the serving sets, so that what the build
// adds (a new limiter, a new connection) and marks as used lands in the
// copy. Committing makes the copies the serving sets; discarding drops them
// and undoes the one change a build makes to objects it shares with the
// serving generation: the drain grace of an ext-auth connection.
type stagedSets struct {
	limits  *localratelimit.Set
	budgets *budgetSet
	authz   *grpcConns
	// grace is the drain grace of each serving ext-auth connection before
	// the build (grpcConns.get raises it to the longest check timeout).
	grace map[*grpcConn]time.Duration
}

// stageSets copies the serving sets. Called with Runtime.mu held.
func (rt *Runtime) stageSets() *stagedSets {
	st := &stagedSets{grace: map[*grpcConn]time.Duration{}}

	st.limits = rt.limits.Stage()

	rt.budgets.mu.Lock()
	st.budgets = &budgetSet{all: maps.Clone(rt.budgets.all)}
	rt.budgets.mu.Unlock()

	rt.authz.mu.Lock()
	st.authz = &grpcConns{all: maps.Clone(rt.authz.all)}
	for _, c := range rt.authz.all {
		st.grace[c] = c.grace
	}
	rt.authz.mu.Unlock()

	st.budgets.begin()
	st.authz.begin()
	return st
}

// commit makes the staged sets the serving ones: what the new config does
// not use is dropped (ext-auth connections close after their grace).
func (st *stagedSets) commit(rt *Runtime) {
	st.limits.Commit()
	st.budgets.commit()
	st.authz.commit()
	rt.limits, rt.budgets, rt.authz = st.limits, st.budgets, st.authz
}

// discard drops the staged sets: it closes the ext-auth connections the
// build created (no request ever used them) and restores the grace of the
// serving ones.
func (st *stagedSets) discard(rt *Runtime) {
	rt.authz.mu.Lock()
	defer rt.authz.mu.Unlock()
	st.authz.mu.Lock()
	defer st.authz.mu.Unlock()
	for b, c := range st.authz.all {
		if rt.authz.all[b] != c {
			c.close()
		}
	}
	for c, g := range st.grace {
		c.grace = g
	}
}
