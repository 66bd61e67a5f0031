package policy

import (
	"maps"
	"sync"
)

// Kept holds what configs built (rate-limit buckets, retry budgets) so a
// reload keeps the state of what it did not change. A config is built
// with a staged copy of the serving set (Stage), takes its values from it
// (Get) and, when it is swapped in, commits it (Commit drops the values
// the config did not use). A config that is discarded leaves the serving
// set as it was.
type Kept[V any] struct {
	mu   sync.Mutex
	all  map[string]V
	used map[string]bool // by the config being built
}

// NewKept returns an empty set.
func NewKept[V any]() *Kept[V] {
	return &Kept[V]{all: map[string]V{}, used: map[string]bool{}}
}

// Stage returns a copy of s for building a config, with no value used yet.
func (s *Kept[V]) Stage() *Kept[V] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Kept[V]{all: maps.Clone(s.all), used: map[string]bool{}}
}

// Snapshot returns the set's values by key.
func (s *Kept[V]) Snapshot() map[string]V {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.all)
}

// Get marks key as used by the config being built and returns its value:
// the kept one, or a new one from build.
func (s *Kept[V]) Get(key string, build func() (V, error)) (V, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.all[key]; ok {
		s.used[key] = true
		return v, nil
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	s.all[key] = v
	s.used[key] = true
	return v, nil
}

// Commit drops the values the config built with s did not use.
func (s *Kept[V]) Commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.all {
		if !s.used[k] {
			delete(s.all, k)
		}
	}
}
