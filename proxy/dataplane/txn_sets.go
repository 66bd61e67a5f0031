package dataplane

import (
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/policy/localratelimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/retrybudget"
)

// stagedSets are the limiter, retry budget and ext-auth connection sets a
// config is built with: copies of the serving sets, so that what the build
// adds (a new limiter, a new connection) and marks as used lands in the
// copy. Committing makes the copies the serving sets; discarding drops them
// and undoes the one change a build makes to objects it shares with the
// serving generation: the drain grace of an ext-auth connection
// (callout.Conns.Discard).
type stagedSets struct {
	limits  *localratelimit.Set
	budgets *retrybudget.Set
	authz   *callout.Conns
	mcp     *mcpStage
	// exporters are the OTLP exporters (tracing.go).
	exporters *exporterSet
}

// stageSets copies the serving sets. Called with Runtime.mu held.
func (rt *Runtime) stageSets() *stagedSets {
	return &stagedSets{limits: rt.limits.Stage(), budgets: rt.budgets.Stage(), authz: rt.authz.Stage(), mcp: rt.mcp.stage(), exporters: rt.exporters.stage()}
}

// commit makes the staged sets the serving ones: what the new config does
// not use is dropped (ext-auth connections close after their grace).
func (st *stagedSets) commit(rt *Runtime) {
	st.limits.Commit()
	st.budgets.Commit()
	st.authz.Commit()
	st.mcp.commit(&rt.mcp)
	st.exporters.commit()
	rt.limits, rt.budgets, rt.authz, rt.exporters = st.limits, st.budgets, st.authz, st.exporters
}

// discard drops the staged sets: it closes the ext-auth connections the
// build created (no request ever used them) and restores the grace of the
// serving ones.
func (st *stagedSets) discard(rt *Runtime) {
	st.authz.Discard(rt.authz)
	st.mcp.discard()
	st.exporters.discard()
}
