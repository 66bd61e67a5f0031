package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/event"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// recorder is a status write function that records which results it was given and can be
// held (to pile offers up behind a slow pass) or made to fail.
type recorder struct {
	mu      sync.Mutex
	got     []*translate.Result
	full    []bool
	fail    []error
	release chan struct{} // if set, each pass waits for a value
	entered chan struct{} // if set, receives when a pass starts
	passed  chan struct{}
	// idle receives the number of passes so far each time the loop waits with nothing to do.
	idle chan int
}

func (r *recorder) write(_ context.Context, _ *translate.Snapshot, res *translate.Result, full bool) error {
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.release != nil {
		<-r.release
	}
	r.mu.Lock()
	r.got = append(r.got, res)
	r.full = append(r.full, full)
	var err error
	if len(r.fail) > 0 {
		err, r.fail = r.fail[0], r.fail[1:]
	}
	r.mu.Unlock()
	select {
	case r.passed <- struct{}{}:
	default: // a runaway loop; settle counts r.got and fails it
	}
	return err
}

func (r *recorder) results() []*translate.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*translate.Result(nil), r.got...)
}

func (r *recorder) fulls() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.full...)
}

func waitPass(t *testing.T, r *recorder) {
	t.Helper()
	select {
	case <-r.passed:
	case <-time.After(10 * time.Second):
		t.Fatal("no status pass")
	}
}

// settle waits until the loop is idle after exactly want passes: nothing is pending then, so
// no further pass can follow from what the test did. More passes fail the test.
func settle(t *testing.T, r *recorder, want int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-r.idle:
			if n > want {
				t.Fatalf("%d status passes, want %d", n, want)
			}
			if n == want {
				return
			}
		case <-deadline:
			t.Fatalf("the status loop did not settle after %d passes", want)
		}
	}
}

// newLoop makes a loop writing through r that reports to r when it is idle.
func newLoop(r *recorder) *statusLoop {
	r.idle = make(chan int, 1000)
	l := newStatusLoop(slog.New(slog.DiscardHandler), r.write)
	l.idle = func() {
		r.mu.Lock()
		n := len(r.got)
		r.mu.Unlock()
		r.idle <- n
	}
	return l
}

func startLoop(t *testing.T, r *recorder) *statusLoop {
	l := newLoop(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Start(ctx); err != nil {
			t.Errorf("status loop: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l
}

// TestStatusLoopCoalesces: offers made while a pass runs collapse into one pass over the
// newest result.
func TestStatusLoopCoalesces(t *testing.T) {
	r := &recorder{release: make(chan struct{}), entered: make(chan struct{}, 10), passed: make(chan struct{}, 10)}
	l := startLoop(t, r)
	first, mid, last := &translate.Result{}, &translate.Result{}, &translate.Result{}
	l.offer(nil, first)
	// Once the first pass is in write, pile up two more offers behind it.
	<-r.entered
	l.offer(nil, mid)
	l.offer(nil, last)
	r.release <- struct{}{}
	waitPass(t, r)
	r.release <- struct{}{}
	waitPass(t, r)
	close(r.release)
	settle(t, r, 2)
	got := r.results()
	if len(got) != 2 || got[0] != first || got[1] != last {
		t.Fatalf("passes over %d results (first=%v last=%v); want the first, then only the newest", len(got), got[0] == first, len(got) > 1 && got[1] == last)
	}
}

// TestStatusLoopPoke: a poke before any offer does nothing; after one it writes the
// Gateways of the latest result again (Programmed is decided at write time); an offer
// meanwhile makes the next pass a full one.
func TestStatusLoopPoke(t *testing.T) {
	r := &recorder{passed: make(chan struct{}, 10)}
	l := startLoop(t, r)
	settle(t, r, 0) // the loop waits for work
	l.poke()
	// A wake-up with nothing to do: the loop reports idle again once it has looked at what
	// the poke left, and a poke before any offer must leave nothing to write.
	l.wake()
	select {
	case n := <-r.idle:
		if n != 0 {
			t.Fatalf("a poke before any offer made %d status passes", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the status loop did not handle a wake-up")
	}
	res := &translate.Result{}
	l.offer(nil, res)
	waitPass(t, r)
	l.poke()
	waitPass(t, r)
	if got := r.results(); len(got) != 2 || got[1] != res {
		t.Fatalf("%d passes; want 2 over the same result", len(got))
	}
	if f := r.fulls(); !f[0] || f[1] {
		t.Fatalf("passes full=%v; want a full pass, then a Gateways-only one", f)
	}
	settle(t, r, 2)
}

// TestStatusLoopRetries: a failed pass is retried on its own, without a new offer:
// conflicts soon and without backing off, other errors with a growing delay.
func TestStatusLoopRetries(t *testing.T) {
	conflict := fmt.Errorf("write status: %w", apierrors.NewConflict(schema.GroupResource{Resource: "httproutes"}, "r", errors.New("the object has been modified")))
	boom := errors.New("apiserver unavailable")
	r := &recorder{passed: make(chan struct{}, 10), fail: []error{conflict, conflict, conflict, conflict, boom, boom}}
	l := startLoop(t, r)
	l.offer(nil, &translate.Result{})
	var at []time.Time
	for range 7 { // 4 conflicts, 2 failures, then success
		waitPass(t, r)
		at = append(at, time.Now())
	}
	settle(t, r, 7)
	gap := func(i int) time.Duration { return at[i].Sub(at[i-1]) }
	if g := gap(4); g > 4*statusRetryMin {
		t.Errorf("4th conflict retried after %s: conflicts must not back off", g)
	}
	if g := gap(6); g < 2*statusRetryMin {
		t.Errorf("second failure retried after %s: errors must back off", g)
	}
	if f := r.fulls(); len(f) != 7 || slices.Contains(f, false) {
		t.Fatalf("passes full=%v; every retry of a failed full pass must be full", f)
	}
}

func TestIsConflict(t *testing.T) {
	c := apierrors.NewConflict(schema.GroupResource{Resource: "gateways"}, "g", errors.New("modified"))
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{c, true},
		{fmt.Errorf("write: %w", c), true},
		{errors.Join(fmt.Errorf("a: %w", c), fmt.Errorf("b: %w", c)), true},
		{errors.Join(fmt.Errorf("a: %w", c), errors.New("boom")), false},
		{errors.New("boom"), false},
	} {
		if got := isConflict(tc.err); got != tc.want {
			t.Errorf("isConflict(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestSpecChanged: our own status writes do not cause reconciles; anything translation
// reads does.
func TestSpecChanged(t *testing.T) {
	base := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 3, ResourceVersion: "10", Labels: map[string]string{"a": "1"}}}
	change := func(f func(r *gwv1.HTTPRoute)) *gwv1.HTTPRoute {
		r := base.DeepCopy()
		r.ResourceVersion = "11"
		f(r)
		return r
	}
	now := metav1.Now()
	for name, tc := range map[string]struct {
		new  *gwv1.HTTPRoute
		want bool
	}{
		"status only": {change(func(r *gwv1.HTTPRoute) {
			r.Status.Parents = []gwv1.RouteParentStatus{{ControllerName: ControllerName}}
		}), false},
		"spec":        {change(func(r *gwv1.HTTPRoute) { r.Generation = 4 }), true},
		"labels":      {change(func(r *gwv1.HTTPRoute) { r.Labels["a"] = "2" }), true},
		"annotations": {change(func(r *gwv1.HTTPRoute) { r.Annotations = map[string]string{"x": "y"} }), true},
		"deleting":    {change(func(r *gwv1.HTTPRoute) { r.DeletionTimestamp = &now }), true},
	} {
		if got := specChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if !specChanged.Create(event.CreateEvent{Object: base}) || !specChanged.Delete(event.DeleteEvent{Object: base}) {
		t.Error("creates and deletes must pass")
	}
	if statusWrittenByUs("") || statusWrittenByUs("discovery.k8s.io") || !statusWrittenByUs(gwv1.GroupName) || !statusWrittenByUs("gateway.networking.x-k8s.io") {
		t.Error("statusWrittenByUs")
	}
}

// TestStatusLoopWritesHeldGatewaysWhenDue: when a pass held Gateway writes back (due), the
// loop writes the Gateways of the latest result again at that time, without a new offer.
func TestStatusLoopWritesHeldGatewaysWhenDue(t *testing.T) {
	r := &recorder{passed: make(chan struct{}, 10)}
	l := newLoop(r)
	var mu sync.Mutex
	held := 1 // the first pass holds a write back
	var dueAt time.Time
	l.due = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if held == 0 {
			return time.Time{}
		}
		held--
		dueAt = time.Now().Add(100 * time.Millisecond)
		return dueAt
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Start(ctx); err != nil {
			t.Errorf("status loop: %v", err)
		}
	}()
	defer func() { cancel(); <-done }()

	res := &translate.Result{}
	l.offer(nil, res)
	waitPass(t, r)
	waitPass(t, r)
	mu.Lock()
	at := dueAt
	mu.Unlock()
	if now := time.Now(); now.Before(at) {
		t.Fatalf("second pass %v before it was due", at.Sub(now))
	}
	if got, fulls := r.results(), r.fulls(); len(got) != 2 || got[1] != res || !slices.Equal(fulls, []bool{true, false}) {
		t.Fatalf("passes %d, full %v; want a full pass, then a Gateways pass over the same result", len(got), fulls)
	}
	settle(t, r, 2)
}
