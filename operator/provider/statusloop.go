package provider

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// statusLoop writes status on the leader, apart from the reconcile. Status writes are one
// apiserver round trip per changed object; done inside the reconcile they held up the next
// translation and publish (a new route waited for the previous route's writes before
// reaching any proxy). The loop is a one-slot coalescing mailbox: a reconcile offers its
// result and returns, and the loop always writes the newest result it holds, so a burst of
// changes costs one pass over the latest state, not one pass per change.
//
// A proxy's ACK changes only Programmed, which is decided at write time (configserver), so
// it pokes the loop to write the Gateways of the latest result again, instead of
// re-translating everything and passing over every route.
type statusLoop struct {
	// write brings status in line with res: every object when full, else only the Gateways
	// and ListenerSets.
	write func(ctx context.Context, snap *translate.Snapshot, res *translate.Result, full bool) error
	log   *slog.Logger
	// due, if set, says after a pass when writes it held back are due (zero: none); the
	// Gateways are written again then (status.Writer.AttachedRoutesInterval).
	due func() time.Time
	// idle, if set (by tests), runs each time the loop waits with no wake-up pending, so a
	// test can tell that everything it asked for has been handled.
	idle func()

	mu   sync.Mutex
	snap *translate.Snapshot
	res  *translate.Result
	// full: res was not written yet; gateways: Programmed may have changed since.
	full, gateways bool
	wakeup         chan struct{} // capacity 1: a pending wake-up covers any number of requests
}

// Retry delays after a failed pass: conflicts (our cache lagging our own writes) are retried
// after statusRetryMin; other errors back off from there up to statusRetryMax.
const (
	statusRetryMin = 50 * time.Millisecond //nolint:revive // time-naming: Min is minimum here, not minutes
	statusRetryMax = 5 * time.Second
)

func newStatusLoop(log *slog.Logger, write func(ctx context.Context, snap *translate.Snapshot, res *translate.Result, full bool) error) *statusLoop {
	return &statusLoop{write: write, log: log, wakeup: make(chan struct{}, 1)}
}

// offer makes (snap, res) the state to write next; older unwritten ones are dropped.
func (l *statusLoop) offer(snap *translate.Snapshot, res *translate.Result) {
	l.mu.Lock()
	l.snap, l.res, l.full = snap, res, true
	l.mu.Unlock()
	l.wake()
}

// poke writes the Gateways of the latest result again (their Programmed conditions may
// have changed). It does nothing before the first offer.
func (l *statusLoop) poke() {
	l.mu.Lock()
	have := l.res != nil
	l.gateways = have
	l.mu.Unlock()
	if have {
		l.wake()
	}
}

func (l *statusLoop) wake() {
	select {
	case l.wakeup <- struct{}{}:
	default:
	}
}

// Start runs the loop until ctx ends (a manager runnable, leader only).
func (l *statusLoop) Start(ctx context.Context) error {
	delay := statusRetryMin
	for {
		if l.idle != nil && len(l.wakeup) == 0 {
			l.idle()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wakeup:
		}
		l.mu.Lock()
		snap, res, full, gateways := l.snap, l.res, l.full, l.gateways
		l.full, l.gateways = false, false
		l.mu.Unlock()
		if !full && !gateways {
			continue
		}
		err := l.write(ctx, snap, res, full)
		if l.due != nil {
			if at := l.due(); !at.IsZero() {
				time.AfterFunc(time.Until(at), l.poke)
			}
		}
		if err == nil || ctx.Err() != nil {
			delay = statusRetryMin
			continue
		}
		// Redo what failed (a newer offer meanwhile makes it a full pass anyway).
		l.mu.Lock()
		l.full, l.gateways = l.full || full, l.gateways || gateways
		l.mu.Unlock()
		wait := delay
		if isConflict(err) {
			// Our cache lags our own last write; its watch event is on its way. Common when
			// one object (a Gateway's attachedRoutes) changes on every pass: retry soon,
			// without backing off, or status would trail the proxies by seconds.
			wait = statusRetryMin
			l.log.Debug("stale cache while writing status; writing again", "error", err, "retry_in", wait)
		} else {
			delay = min(2*delay, statusRetryMax)
			l.log.Error("writing status failed; retrying", "error", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		l.wake()
	}
}

// NeedLeaderElection: only the leader writes status.
func (l *statusLoop) NeedLeaderElection() bool { return true }

// isConflict reports whether every error joined in err is a conflict.
func isConflict(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !isConflict(e) {
				return false
			}
		}
		return true
	}
	return apierrors.IsConflict(err) || errors.Is(err, context.Canceled)
}
