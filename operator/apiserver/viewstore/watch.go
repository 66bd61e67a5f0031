package viewstore

import (
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// WatchOptions selects what a watch sends.
type WatchOptions[T Object] struct {
	// ResourceVersion to resume after. Empty starts at the current state.
	ResourceVersion string
	// InitialEvents sends the current state as ADDED events before any change. With it,
	// ResourceVersion is ignored.
	InitialEvents bool
	// InitialEventsEndBookmark sends, after the initial events, a bookmark annotated
	// k8s.io/initial-events-end: "true" (the WatchList protocol of client-go informers).
	InitialEventsEndBookmark bool
	// BookmarkInterval, when positive, sends a bookmark with the latest resourceVersion this
	// often, so a client resuming after a quiet period does not fall out of the history.
	BookmarkInterval time.Duration
	// Namespace limits the watch to one namespace; empty watches all.
	Namespace string
	// Filter, when set, limits the watch to objects it accepts. An object that stops matching
	// is sent as DELETED, one that starts matching as ADDED.
	Filter func(T) bool
	// Buffer is how many events may queue for a slow client before the watch is closed (the
	// client then resumes from the last resourceVersion it received). Defaults to 256.
	Buffer int
}

type storeWatcher[T Object] struct {
	in   chan Event[T]
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
	s    *Store[T]
}

// Watch starts a watch. It fails with an *ExpiredError when ResourceVersion cannot be resumed
// from.
func (s *Store[T]) Watch(opts WatchOptions[T]) (watch.Interface, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	w := &storeWatcher[T]{
		in:   make(chan Event[T], opts.Buffer),
		out:  make(chan watch.Event),
		stop: make(chan struct{}),
		s:    s,
	}
	s.mu.Lock()
	var (
		initial []T
		replay  []Event[T]
	)
	switch {
	case opts.InitialEvents:
		initial = s.listLocked(opts.Namespace)
	case opts.ResourceVersion != "":
		evs, err := s.eventsAfter(opts.ResourceVersion)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		replay = evs
	}
	startRV := s.rv(s.counter)
	s.watchers[w] = struct{}{}
	s.mu.Unlock()

	go w.run(opts, initial, replay, startRV)
	return w, nil
}

// dropLocked closes a watcher's input; its goroutine delivers what is queued and ends.
func (s *Store[T]) dropLocked(w *storeWatcher[T]) {
	if _, ok := s.watchers[w]; ok {
		delete(s.watchers, w)
		close(w.in)
	}
}

func (w *storeWatcher[T]) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.s.mu.Lock()
		w.s.dropLocked(w)
		w.s.mu.Unlock()
	})
}

func (w *storeWatcher[T]) ResultChan() <-chan watch.Event { return w.out }

func (w *storeWatcher[T]) send(t watch.EventType, o T) bool {
	select {
	case w.out <- watch.Event{Type: t, Object: o.DeepCopyObject()}:
		return true
	case <-w.stop:
		return false
	}
}

func (w *storeWatcher[T]) bookmark(rv uint64, initialEnd bool) bool {
	b := w.s.newObj()
	b.SetResourceVersion(strconv.FormatUint(rv, 10))
	if initialEnd {
		b.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	select {
	case w.out <- watch.Event{Type: watch.Bookmark, Object: b}:
		return true
	case <-w.stop:
		return false
	}
}

func (w *storeWatcher[T]) run(opts WatchOptions[T], initial []T, replay []Event[T], lastRV uint64) {
	defer close(w.out)
	defer w.Stop()
	match := func(o T) bool {
		if opts.Namespace != "" && o.GetNamespace() != opts.Namespace {
			return false
		}
		return opts.Filter == nil || opts.Filter(o)
	}
	for _, o := range initial {
		if match(o) && !w.send(watch.Added, o) {
			return
		}
	}
	if opts.InitialEventsEndBookmark && !w.bookmark(lastRV, true) {
		return
	}
	deliver := func(ev Event[T]) bool {
		now := match(ev.Object)
		switch ev.Type {
		case watch.Added, watch.Deleted:
			if now {
				return w.send(ev.Type, ev.Object)
			}
		case watch.Modified:
			var zero T
			before := any(ev.Prev) != any(zero) && match(ev.Prev)
			switch {
			case now && before:
				return w.send(watch.Modified, ev.Object)
			case now:
				return w.send(watch.Added, ev.Object)
			case before:
				gone := ev.Prev.DeepCopyObject().(T)
				gone.SetResourceVersion(ev.Object.GetResourceVersion())
				return w.send(watch.Deleted, gone)
			}
		}
		return true
	}
	for _, ev := range replay {
		if !deliver(ev) {
			return
		}
	}
	var tick <-chan time.Time
	if opts.BookmarkInterval > 0 {
		t := time.NewTicker(opts.BookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	sentRV := lastRV
	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-w.in:
			if !ok {
				return
			}
			if len(replay) > 0 && ev.RV <= replay[len(replay)-1].RV {
				continue
			}
			if !deliver(ev) {
				return
			}
			lastRV = ev.RV
		case <-tick:
			if lastRV != sentRV {
				if !w.bookmark(lastRV, false) {
					return
				}
				sentRV = lastRV
			}
		}
	}
}
