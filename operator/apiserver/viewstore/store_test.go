package viewstore_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/viewstore"
)

type ps = viewsv1a1.ProxyStatus

func newStore(opts ...viewstore.Option) *viewstore.Store[*ps] {
	return viewstore.New(func() *ps { return &ps{} }, append([]viewstore.Option{viewstore.WithEpoch(7)}, opts...)...)
}

func proxy(ns, name, gw, acked string) *ps {
	return &ps{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Gateway: gw, Pod: name, Connected: true, AckedVersion: acked}
}

type got struct {
	typ  watch.EventType
	name string
	ver  string
	rv   string
	end  bool
}

func next(t *testing.T, w watch.Interface) got {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		o := ev.Object.(*ps)
		return got{ev.Type, o.Name, o.AckedVersion, o.ResourceVersion, o.Annotations[metav1.InitialEventsAnnotationKey] == "true"}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return got{}
}

func noEvent(t *testing.T, w watch.Interface) {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected event %s %+v", ev.Type, ev.Object)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestReplaceEmitsOnlyChanges(t *testing.T) {
	s := newStore()
	w, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: s.ResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	s.Replace("a", []*ps{proxy("ns", "p1", "gw", "v1"), proxy("ns", "p2", "gw", "v1")})
	if e := next(t, w); e.typ != watch.Added || e.name != "p1" {
		t.Fatalf("got %+v", e)
	}
	if e := next(t, w); e.typ != watch.Added || e.name != "p2" {
		t.Fatalf("got %+v", e)
	}
	rvBefore := s.ResourceVersion()
	// Republishing the same state changes nothing: no event, same resourceVersion.
	s.Replace("a", []*ps{proxy("ns", "p2", "gw", "v1"), proxy("ns", "p1", "gw", "v1")})
	noEvent(t, w)
	if s.ResourceVersion() != rvBefore {
		t.Fatalf("resourceVersion moved without a change")
	}
	s.Replace("a", []*ps{proxy("ns", "p1", "gw", "v2")})
	if e := next(t, w); e.typ != watch.Deleted || e.name != "p2" {
		t.Fatalf("got %+v", e)
	}
	if e := next(t, w); e.typ != watch.Modified || e.name != "p1" || e.ver != "v2" {
		t.Fatalf("got %+v", e)
	}
	p1, _ := s.Get("ns", "p1")
	if p1.CreationTimestamp.IsZero() {
		t.Error("creationTimestamp not filled")
	}
}

func TestPartitions(t *testing.T) {
	s := newStore()
	s.Replace("replica-a", []*ps{proxy("ns", "p1", "gw", "v1")})
	s.Replace("replica-b", []*ps{proxy("ns", "p2", "gw", "v1"), proxy("ns", "p1", "gw", "stale")})
	items, _ := s.List("")
	if len(items) != 2 || items[0].AckedVersion != "v1" {
		t.Fatalf("first publisher keeps an object: %+v", items)
	}
	// replica-a drops p1: replica-b's copy takes over instead of the object disappearing.
	s.Replace("replica-a", nil)
	p1, ok := s.Get("ns", "p1")
	if !ok || p1.AckedVersion != "stale" {
		t.Fatalf("p1 after replica-a dropped it: %v %+v", ok, p1)
	}
	s.Delete("replica-b", "ns", "p1")
	if _, ok := s.Get("ns", "p1"); ok {
		t.Fatal("p1 still present")
	}
	if got := s.Partition("replica-b"); len(got) != 1 || got[0].Name != "p2" {
		t.Fatalf("partition: %+v", got)
	}
}

func TestWatchListInitialEvents(t *testing.T) {
	s := newStore()
	s.Replace("a", []*ps{proxy("ns", "p1", "gw", "v1"), proxy("other", "p2", "gw", "v1")})
	w, err := s.Watch(viewstore.WatchOptions[*ps]{InitialEvents: true, InitialEventsEndBookmark: true, Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if e := next(t, w); e.typ != watch.Added || e.name != "p1" {
		t.Fatalf("got %+v", e)
	}
	b := next(t, w)
	if b.typ != watch.Bookmark || !b.end || b.rv != s.ResourceVersion() {
		t.Fatalf("want the initial-events-end bookmark at %s, got %+v", s.ResourceVersion(), b)
	}
	s.Upsert("a", proxy("ns", "p3", "gw", "v1"))
	if e := next(t, w); e.typ != watch.Added || e.name != "p3" {
		t.Fatalf("got %+v", e)
	}
}

func TestWatchResumeAndExpiry(t *testing.T) {
	s := newStore(viewstore.WithHistory(3))
	s.Upsert("a", proxy("ns", "p1", "gw", "v1")) // rv 1
	rv1 := s.ResourceVersion()
	s.Upsert("a", proxy("ns", "p1", "gw", "v2")) // rv 2
	s.Upsert("a", proxy("ns", "p1", "gw", "v3")) // rv 3
	w, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: rv1})
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, w); e.ver != "v2" {
		t.Fatalf("got %+v", e)
	}
	if e := next(t, w); e.ver != "v3" {
		t.Fatalf("got %+v", e)
	}
	w.Stop()

	s.Upsert("a", proxy("ns", "p1", "gw", "v4")) // rv 4, history now 2..4
	s.Upsert("a", proxy("ns", "p1", "gw", "v5")) // rv 5, history now 3..5
	var expired *viewstore.ExpiredError
	if _, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: rv1}); !errors.As(err, &expired) {
		t.Fatalf("resume from a resourceVersion older than the history: want ExpiredError, got %v", err)
	}
	other := viewstore.New(func() *ps { return &ps{} }, viewstore.WithEpoch(8))
	if _, err := other.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: s.ResourceVersion()}); !errors.As(err, &expired) {
		t.Fatalf("resume from another replica's resourceVersion: want ExpiredError, got %v", err)
	}
	if _, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: "garbage"}); !errors.As(err, &expired) {
		t.Fatalf("malformed resourceVersion: want ExpiredError, got %v", err)
	}
	n, err := strconv.ParseUint(s.ResourceVersion(), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: strconv.FormatUint(n+1, 10)}); !errors.As(err, &expired) {
		t.Fatalf("future resourceVersion: want ExpiredError, got %v", err)
	}
}

func TestFilteredWatchTurnsTransitionsIntoAddAndDelete(t *testing.T) {
	s := newStore()
	s.Upsert("a", proxy("ns", "p1", "gw-1", "v1"))
	w, err := s.Watch(viewstore.WatchOptions[*ps]{
		ResourceVersion: s.ResourceVersion(),
		Filter:          func(p *ps) bool { return p.Gateway == "gw-1" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.Upsert("a", proxy("ns", "p1", "gw-2", "v1"))
	if e := next(t, w); e.typ != watch.Deleted || e.name != "p1" {
		t.Fatalf("leaving the selection: got %+v", e)
	}
	s.Upsert("a", proxy("ns", "p2", "gw-2", "v1"))
	noEvent(t, w)
	s.Upsert("a", proxy("ns", "p2", "gw-1", "v1"))
	if e := next(t, w); e.typ != watch.Added || e.name != "p2" {
		t.Fatalf("entering the selection: got %+v", e)
	}
}

func TestSlowWatcherIsClosed(t *testing.T) {
	s := newStore()
	w, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: s.ResourceVersion(), Buffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// The watcher's goroutine holds one event while it waits to send; with a buffer of 2 the
	// fourth change overflows.
	for i := range 5 {
		s.Upsert("a", proxy("ns", "p1", "gw", strconv.Itoa(i)))
	}
	n := 0
	for range w.ResultChan() {
		n++
	}
	if n == 0 || n >= 5 {
		t.Fatalf("got %d events before close; want some, then a close", n)
	}
}

func TestBookmarksWhileQuiet(t *testing.T) {
	s := newStore()
	w, err := s.Watch(viewstore.WatchOptions[*ps]{
		ResourceVersion:  s.ResourceVersion(),
		BookmarkInterval: 20 * time.Millisecond,
		Filter:           func(*ps) bool { return false },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.Upsert("a", proxy("ns", "p1", "gw", "v1"))
	// The change is filtered out, but a bookmark still moves the client's resourceVersion on.
	if e := next(t, w); e.typ != watch.Bookmark || e.rv != s.ResourceVersion() {
		t.Fatalf("got %+v", e)
	}
}

// TestHistoryBudget: the history keeps the newest events whose weights fit the budget (and
// always the newest one); resuming from before them is refused, from within them works.
func TestHistoryBudget(t *testing.T) {
	weigh := func(o any) int { return len(o.(*ps).AckedVersion) }
	s := newStore(viewstore.WithHistoryBudget(10, weigh))
	var rvs []string
	for _, v := range []string{"aaa1", "aaa2", "aaa3", "aaa4", "aaa5"} { // weight 4 each
		rvs = append(rvs, s.ResourceVersion())
		s.Upsert("a", proxy("ns", "p1", "gw", v))
	}
	// 5 events of weight 4 with a budget of 10: the last two stay (aaa4, aaa5).
	var expired *viewstore.ExpiredError
	// rvs[i] is the resourceVersion just before event i.
	if _, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: rvs[2]}); !errors.As(err, &expired) {
		t.Fatalf("resume from before the kept events: want ExpiredError, got %v", err)
	}
	w, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: rvs[3]})
	if err != nil {
		t.Fatalf("resume from just before the kept events: %v", err)
	}
	for _, want := range []string{"aaa4", "aaa5"} {
		if e := next(t, w); e.ver != want {
			t.Fatalf("got %+v, want %s", e, want)
		}
	}
	w.Stop()
	// One event heavier than the budget is still kept.
	before := s.ResourceVersion()
	s.Upsert("a", proxy("ns", "p1", "gw", "a-version-longer-than-the-budget"))
	w, err = s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: before})
	if err != nil {
		t.Fatalf("resume from just before a heavy event: %v", err)
	}
	if e := next(t, w); e.ver != "a-version-longer-than-the-budget" {
		t.Fatalf("got %+v", e)
	}
	w.Stop()
	if _, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: rvs[4]}); !errors.As(err, &expired) {
		t.Fatalf("the heavy event pushed out the others: want ExpiredError, got %v", err)
	}
}

// TestReplaceOwnedStoresWithoutCopy: ReplaceOwned keeps the objects it is given (no copy), and
// like Replace emits only real changes.
func TestReplaceOwnedStoresWithoutCopy(t *testing.T) {
	s := newStore()
	w, err := s.Watch(viewstore.WatchOptions[*ps]{ResourceVersion: s.ResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	p1 := proxy("ns", "p1", "gw", "v1")
	s.ReplaceOwned("a", []*ps{p1})
	if got, _ := s.Get("ns", "p1"); got != p1 {
		t.Fatal("ReplaceOwned stored a copy")
	}
	if e := next(t, w); e.typ != watch.Added || e.ver != "v1" {
		t.Fatalf("got %+v", e)
	}
	s.ReplaceOwned("a", []*ps{proxy("ns", "p1", "gw", "v1")}) // same content
	noEvent(t, w)
	if got, _ := s.Get("ns", "p1"); got != p1 {
		t.Fatal("an unchanged object replaced the stored one")
	}
	s.ReplaceOwned("a", []*ps{proxy("ns", "p1", "gw", "v2")})
	if e := next(t, w); e.typ != watch.Modified || e.ver != "v2" {
		t.Fatalf("got %+v", e)
	}
}
