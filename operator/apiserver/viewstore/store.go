// Package viewstore holds the objects the aggregated API serves: an in-memory, versioned store
// per resource with a change feed that the REST layer turns into list and watch responses.
//
// The operator publishes into a Store; the aggregated API only reads from it. A publisher is
// level-triggered: it hands over the whole current set for its partition (Replace), and the
// store works out what changed, stamps a resourceVersion, and emits ADDED, MODIFIED and
// DELETED events for watchers. Publishing an unchanged set emits nothing.
//
// Partitions let several publishers share one store without knowing about each other: the
// translation pipeline owns the single partition of EffectiveConfigs; for ProxyStatuses each
// operator replica publishes its own connected proxies under its own name and a peer syncer
// publishes what the other replicas report, so every replica serves the same set.
package viewstore

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Object is a view: a Kubernetes object with metadata that can deep-copy itself.
type Object interface {
	runtime.Object
	metav1.Object
}

// Event is one change of a Store. Object carries the resourceVersion of the change; for
// DELETED it is the last state with the deletion's resourceVersion. Prev is the state before a
// MODIFIED, so that a filtered watch can turn a change in or out of its selection into an ADDED
// or DELETED.
type Event[T Object] struct {
	Type   watch.EventType
	Object T
	Prev   T
	RV     uint64

	weight int // in the history budget
}

const (
	// counterBits is how many low bits of a resourceVersion count changes; the bits above hold
	// the store's epoch, so a resourceVersion from another replica or an earlier process is
	// recognised and answered with 410 Gone instead of being replayed wrongly.
	counterBits = 40
	counterMask = 1<<counterBits - 1
	// DefaultHistory is how many events a Store keeps for watches resuming from an older
	// resourceVersion.
	DefaultHistory = 1024
)

// Store is the current set of one resource, a resourceVersion counter and a bounded event
// history. It is safe for concurrent use. Objects handed to it are deep-copied (ReplaceOwned
// takes them as they are); objects it hands out are shared and must not be modified.
type Store[T Object] struct {
	newObj  func() T
	now     func() time.Time
	history int
	budget  int               // bound on the history's total weight; 0: none
	weigh   func(obj any) int // weight of an event's object; nil: 1

	histWeight int

	mu       sync.RWMutex
	epoch    uint64
	counter  uint64
	items    map[types.NamespacedName]T
	owner    map[types.NamespacedName]string
	parts    map[string]map[types.NamespacedName]T
	events   []Event[T] // oldest first, at most history long
	watchers map[*storeWatcher[T]]struct{}
}

// Option configures a Store.
type Option func(*options)

type options struct {
	history int
	budget  int
	weigh   func(obj any) int
	now     func() time.Time
	epoch   uint64
}

// WithHistory sets how many events are kept for resuming watches.
func WithHistory(n int) Option { return func(o *options) { o.history = n } }

// WithHistoryBudget also bounds the history by weight: the oldest events go while the weights
// of those kept add up to more than budget (the newest event is always kept). weigh gives an
// event's weight from its object, something proportional to its size. Without it a history of
// large objects (an EffectiveConfig with a thousand routes, changed once per route) would keep
// a thousand copies of them.
func WithHistoryBudget(budget int, weigh func(obj any) int) Option {
	return func(o *options) { o.budget, o.weigh = budget, weigh }
}

// WithClock sets the clock used to fill creationTimestamp when a publisher leaves it empty.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithEpoch fixes the epoch part of resourceVersions (tests); by default it is random.
func WithEpoch(e uint64) Option { return func(o *options) { o.epoch = e } }

// New returns an empty Store. newObj returns an empty object of the stored type; it is used for
// watch bookmarks.
func New[T Object](newObj func() T, opts ...Option) *Store[T] {
	o := options{history: DefaultHistory, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.epoch == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		// Keep resourceVersions below 2^63 so every client parses them as a signed integer too.
		o.epoch = binary.BigEndian.Uint64(b[:])%(1<<(63-counterBits)-1) + 1
	}
	return &Store[T]{
		newObj:   newObj,
		now:      o.now,
		history:  o.history,
		budget:   o.budget,
		weigh:    o.weigh,
		epoch:    o.epoch,
		items:    map[types.NamespacedName]T{},
		owner:    map[types.NamespacedName]string{},
		parts:    map[string]map[types.NamespacedName]T{},
		watchers: map[*storeWatcher[T]]struct{}{},
	}
}

func keyOf(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Replace sets the complete current set of a partition. Objects of the partition that are not
// in objs are deleted. When two partitions publish the same namespace/name, the one that
// published it first keeps it until it drops it.
func (s *Store[T]) Replace(partition string, objs []T) {
	copies := make([]T, len(objs))
	for i, o := range objs {
		copies[i] = o.DeepCopyObject().(T)
	}
	s.ReplaceOwned(partition, copies)
}

// ReplaceOwned is Replace without the copy: the objects become the store's. The caller must
// not keep or modify them afterwards; what they point to (slices, maps, nested structs) may be
// shared with other objects as long as nobody modifies it.
func (s *Store[T]) ReplaceOwned(partition string, objs []T) {
	next := make(map[types.NamespacedName]T, len(objs))
	for _, c := range objs {
		c.SetResourceVersion("")
		c.SetManagedFields(nil)
		next[keyOf(c)] = c
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	prevPart := s.parts[partition]
	if len(next) == 0 {
		delete(s.parts, partition)
	} else {
		s.parts[partition] = next
	}
	// Deletions first, in a stable order, so that the event order does not depend on map order.
	var gone []types.NamespacedName
	for k := range prevPart {
		if _, ok := next[k]; !ok && s.owner[k] == partition {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, compareKeys)
	for _, k := range gone {
		s.remove(k)
		// Another partition may hold the same object: it takes over.
		for p, objs := range s.parts {
			if o, ok := objs[k]; ok {
				s.put(p, k, o)
				break
			}
		}
	}
	keys := make([]types.NamespacedName, 0, len(next))
	for k := range next {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		if owner, ok := s.owner[k]; ok && owner != partition {
			continue
		}
		s.put(partition, k, next[k])
	}
}

// Upsert adds or changes one object of a partition.
func (s *Store[T]) Upsert(partition string, obj T) {
	c := obj.DeepCopyObject().(T)
	c.SetResourceVersion("")
	c.SetManagedFields(nil)
	k := keyOf(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts[partition] == nil {
		s.parts[partition] = map[types.NamespacedName]T{}
	}
	s.parts[partition][k] = c
	if owner, ok := s.owner[k]; ok && owner != partition {
		return
	}
	s.put(partition, k, c)
}

// Delete removes one object of a partition.
func (s *Store[T]) Delete(partition, namespace, name string) {
	k := types.NamespacedName{Namespace: namespace, Name: name}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.parts[partition][k]; !ok {
		return
	}
	delete(s.parts[partition], k)
	if len(s.parts[partition]) == 0 {
		delete(s.parts, partition)
	}
	if s.owner[k] != partition {
		return
	}
	s.remove(k)
	for p, objs := range s.parts {
		if o, ok := objs[k]; ok {
			s.put(p, k, o)
			break
		}
	}
}

// Partition returns the objects a partition published, for serving them to peers.
func (s *Store[T]) Partition(partition string) []T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]T, 0, len(s.parts[partition]))
	for _, o := range s.parts[partition] {
		out = append(out, o)
	}
	sortObjects(out)
	return out
}

// Partitions returns the names of the partitions holding objects, sorted.
func (s *Store[T]) Partitions() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.parts))
	for p := range s.parts {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// put stores o under k if it differs from the stored object. o must be a copy that nothing
// outside the store holds and that was never stored under k. Called with mu held.
func (s *Store[T]) put(partition string, k types.NamespacedName, o T) {
	prev, exists := s.items[k]
	s.owner[k] = partition
	if exists {
		// Publishers do not track creation time or resourceVersion: compare without them.
		if ts := o.GetCreationTimestamp(); ts.IsZero() {
			o.SetCreationTimestamp(prev.GetCreationTimestamp())
		}
		o.SetResourceVersion(prev.GetResourceVersion())
		if apiequality.Semantic.DeepEqual(prev, o) {
			return
		}
	} else if ts := o.GetCreationTimestamp(); ts.IsZero() {
		o.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(time.Second)))
	}
	s.counter++
	rv := s.rv(s.counter)
	// o is the store's own copy (Replace and Upsert copy what they are given) and has not been
	// handed out: store it as is. From now on it is shared and never modified again; the next
	// publish brings a new copy.
	o.SetResourceVersion(strconv.FormatUint(rv, 10))
	s.items[k] = o
	ev := Event[T]{Type: watch.Added, Object: o, RV: rv}
	if exists {
		ev.Type, ev.Prev = watch.Modified, prev
	}
	s.emit(ev)
}

// remove deletes k. Called with mu held.
func (s *Store[T]) remove(k types.NamespacedName) {
	prev, ok := s.items[k]
	if !ok {
		return
	}
	delete(s.items, k)
	delete(s.owner, k)
	s.counter++
	rv := s.rv(s.counter)
	last := prev.DeepCopyObject().(T)
	last.SetResourceVersion(strconv.FormatUint(rv, 10))
	s.emit(Event[T]{Type: watch.Deleted, Object: last, RV: rv})
}

func (s *Store[T]) emit(ev Event[T]) {
	if s.history > 0 {
		ev.weight = 1
		if s.weigh != nil {
			ev.weight = s.weigh(ev.Object)
		}
		s.events = append(s.events, ev)
		s.histWeight += ev.weight
		drop := 0
		for drop < len(s.events)-1 && (len(s.events)-drop > s.history || s.budget > 0 && s.histWeight > s.budget) {
			s.histWeight -= s.events[drop].weight
			drop++
		}
		if drop > 0 {
			s.events = slices.Delete(s.events, 0, drop)
		}
	}
	for w := range s.watchers {
		select {
		case w.in <- ev:
		default:
			// A watcher that cannot keep up is closed; its client resumes from the last
			// resourceVersion it saw, replaying from the history.
			s.dropLocked(w)
		}
	}
}

func (s *Store[T]) rv(counter uint64) uint64 { return s.epoch<<counterBits | counter&counterMask }

// ResourceVersion is the store's current resourceVersion.
func (s *Store[T]) ResourceVersion() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return strconv.FormatUint(s.rv(s.counter), 10)
}

// Get returns the object namespace/name.
func (s *Store[T]) Get(namespace, name string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.items[types.NamespacedName{Namespace: namespace, Name: name}]
	return o, ok
}

// List returns the objects of a namespace (all namespaces when empty), sorted by namespace
// and name, and the resourceVersion they are current at.
func (s *Store[T]) List(namespace string) ([]T, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listLocked(namespace), strconv.FormatUint(s.rv(s.counter), 10)
}

func (s *Store[T]) listLocked(namespace string) []T {
	out := make([]T, 0, len(s.items))
	for k, o := range s.items {
		if namespace == "" || k.Namespace == namespace {
			out = append(out, o)
		}
	}
	sortObjects(out)
	return out
}

func sortObjects[T Object](objs []T) {
	slices.SortFunc(objs, func(a, b T) int { return compareKeys(keyOf(a), keyOf(b)) })
}

func compareKeys(a, b types.NamespacedName) int {
	if a.Namespace != b.Namespace {
		if a.Namespace < b.Namespace {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// ExpiredError says that a resourceVersion cannot be served: it is older than the history,
// from another epoch (another replica, or before a restart), or malformed.
type ExpiredError struct {
	RV     string
	Reason string
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("resourceVersion %s is too old to watch from (%s): list again", e.RV, e.Reason)
}

// parseRV checks that rv can be resumed from and returns the events after it. Called with mu
// held.
func (s *Store[T]) eventsAfter(rv string) ([]Event[T], error) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return nil, &ExpiredError{RV: rv, Reason: "not a resourceVersion of this server"}
	}
	if n>>counterBits != s.epoch {
		return nil, &ExpiredError{RV: rv, Reason: "issued by another replica or before a restart"}
	}
	c := n & counterMask
	if c > s.counter {
		return nil, &ExpiredError{RV: rv, Reason: "newer than this server's state"}
	}
	if c == s.counter {
		return nil, nil
	}
	// Events for counters c+1 .. s.counter must all be in the history.
	if len(s.events) == 0 || s.events[0].RV&counterMask > c+1 {
		return nil, &ExpiredError{RV: rv, Reason: "older than the retained history"}
	}
	i, _ := slices.BinarySearchFunc(s.events, n+1, func(e Event[T], target uint64) int {
		switch {
		case e.RV < target:
			return -1
		case e.RV > target:
			return 1
		}
		return 0
	})
	return slices.Clone(s.events[i:]), nil
}
