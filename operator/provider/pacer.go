package provider

import (
	"sync"
	"time"
)

// pacer bounds the share of wall time a replica spends reconciling during a burst of
// changes. Every reconcile translates the whole cache, and during a burst (a thousand
// routes applied at once, a namespace deleted) events keep arriving while it runs, so
// without a bound the workqueue runs reconciles back to back: each replica keeps a core
// busy, and the apiserver, which has to accept the burst, gets what is left. The burst then
// takes several times longer to write, and every intermediate state is translated again.
//
// The pacer is a token bucket measured in time: a reconcile of a burst spends its duration,
// and the bucket refills at share seconds per second, up to burst. While the bucket is in
// debt the next reconcile of the burst waits until it is paid off; waiting also batches
// every change of the meantime into that one reconcile. A reconcile is part of a burst when
// more than one change is waiting for it: a lone change (one route applied, a client
// waiting for it) never waits and is not charged, however often it comes.
type pacer struct {
	burst time.Duration // reconcile time available at once after a quiet period

	mu     sync.Mutex
	tokens time.Duration
	at     time.Time // when tokens was last brought up to date; zero before first use
}

// Defaults: over a burst, at most a sixth of a core per replica, after a second of
// reconciling at once. A reconcile of a thousand routes takes a few tens of milliseconds,
// so a burst's changes reach the proxies up to a few tenths of a second later than they
// would unpaced, and the apiserver, which spends several milliseconds of CPU on every
// HTTPRoute write (schema and CEL validation), keeps the CPU it needs to take the burst.
// A replica whose last reconcile changed no config of its connected proxies paces lone
// changes too (see pacing): a follower then takes a tenth of a core, the leader a sixth.
const (
	paceShare     = 0.16
	paceShareIdle = 0.1
	paceBurst     = time.Second
)

// pacing says whether a reconcile is paced, and at which share, for a replica that is the
// leader or not, whose last reconcile changed the config of proxies connected to it
// (served) or not, with pending changes waiting.
//
// A burst (more than one change waiting; they accumulate over paced waits) is always paced.
// A lone change runs at once and is not charged on a replica whose proxies took the last
// change: they likely wait for this one too. Otherwise the replica paces lone changes too,
// so that changes in quick succession (routes added one by one to a Gateway whose proxies
// stream from the other replica) take one translation between them instead of one each
// once its burst allowance is spent, leaving the CPU to the replica the proxies wait on and
// to the apiserver:
//   - the leader then works for status and workloads, which may trail the proxies by a
//     moment (a Route serves before it reports Accepted): paceShare;
//   - a follower translates for its views (kubectl get effectiveconfig) and for proxies
//     whose config the recent changes left alone: paceShareIdle.
//
// A change for such proxies can then wait while the bucket is in debt, at most one
// reconcile's duration divided by the share (the agentgateway_reconcile_seconds metric
// shows a reconcile's duration; BenchmarkTranslate in hack/bench/routes measures its
// translation step for 100 and 1000 routes).
func pacing(leader, served bool, pending int64) (paced bool, share float64) {
	switch {
	case served:
		return pending > 1, paceShare
	case leader:
		return true, paceShare
	default:
		return true, paceShareIdle
	}
}

func newPacer(burst time.Duration) *pacer {
	return &pacer{burst: burst, tokens: burst}
}

// refill brings tokens up to now at share. Called with mu held.
func (p *pacer) refill(now time.Time, share float64) {
	if !p.at.IsZero() && now.After(p.at) {
		p.tokens += time.Duration(float64(now.Sub(p.at)) * share)
		if p.tokens > p.burst {
			p.tokens = p.burst
		}
	}
	if p.at.IsZero() || now.After(p.at) {
		p.at = now
	}
}

// delay is how long a reconcile that wants to start at now should wait (0: start now), if
// reconciles may take share of the wall time, in (0, 1].
func (p *pacer) delay(now time.Time, share float64) time.Duration {
	share = validShare(share)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refill(now, share)
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(float64(-p.tokens) / share)
}

// spend records a reconcile of duration d that ended at now.
func (p *pacer) spend(now time.Time, d time.Duration, share float64) {
	share = validShare(share)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refill(now, share)
	p.tokens -= d
}

func validShare(share float64) float64 {
	if share <= 0 || share > 1 {
		return 1
	}
	return share
}
