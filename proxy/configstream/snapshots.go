package configstream

import (
	"sync"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Snapshots holds the latest config of every Gateway. Publishing wakes every stream of
// that Gateway; a stream always sends the latest snapshot, so rapid updates coalesce into
// the newest one and a slow proxy never receives a backlog.
type Snapshots struct {
	mu      sync.Mutex
	entries map[GatewayKey]*snapshot
}

type snapshot struct {
	cfg *config.Config
	// enc is cfg cut into pieces (configdelta.Encode), for deltas.
	enc *configdelta.Encoded
	// full is cfg as a whole push carries it (fullJSON), shared by every whole push of
	// this version; nil until the first one.
	full []byte
	// deltaFrom and delta cache the last delta made to this version: a Gateway's proxies
	// usually run the same base.
	deltaFrom string
	delta     []byte
	// changed is closed (and replaced) on every publish: a broadcast to all waiters.
	changed chan struct{}
}

// NewSnapshots returns an empty store.
func NewSnapshots() *Snapshots {
	return &Snapshots{entries: map[GatewayKey]*snapshot{}}
}

// Set stores cfg as the latest config of gw and reports whether it differs from the
// previous one. cfg.Version is set to its content hash (see VersionOf). A nil cfg removes
// the Gateway: its connected proxies keep serving what they have. Set takes ownership of
// cfg.
func (s *Snapshots) Set(gw GatewayKey, cfg *config.Config) (bool, error) {
	if cfg == nil {
		return s.SetEncoded(gw, nil, nil), nil
	}
	enc, err := configdelta.Encode(cfg)
	if err != nil {
		return false, err
	}
	cfg.Version = enc.Version
	return s.SetEncoded(gw, cfg, enc), nil
}

// SetEncoded is Set with cfg's pieces from configdelta.Encode (enc); cfg.Version must be
// enc.Version.
func (s *Snapshots) SetEncoded(gw GatewayKey, cfg *config.Config, enc *configdelta.Encoded) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(gw)
	if cfg == nil {
		if e.cfg == nil {
			return false
		}
		delete(s.entries, gw)
		close(e.changed)
		return true
	}
	if e.cfg != nil && e.cfg.Version == cfg.Version {
		return false
	}
	e.cfg, e.enc, e.full, e.deltaFrom, e.delta = cfg, enc, nil, "", nil
	close(e.changed)
	e.changed = make(chan struct{})
	return true
}

// latest returns gw's latest version (nil if none) and a channel closed on the next change.
func (s *Snapshots) latest(gw GatewayKey) (*configdelta.Encoded, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(gw)
	return e.enc, e.changed
}

// push returns the push of version next of gw: its delta from base when base is set,
// else the whole config. ok is false when next is no longer the latest version (the
// caller looks again).
func (s *Snapshots) push(gw GatewayKey, base, next *configdelta.Encoded) (full, delta []byte, ok bool, err error) {
	s.mu.Lock()
	e := s.entry(gw)
	if e.enc != next {
		s.mu.Unlock()
		return nil, nil, false, nil
	}
	cfg := e.cfg
	if base != nil && e.deltaFrom == base.Version {
		delta = e.delta
	}
	full = e.full
	s.mu.Unlock()
	// Encode outside the lock: other Gateways' publishers and streams must not wait.
	if base != nil {
		if delta == nil {
			delta = configdelta.Diff(base, next)
			s.mu.Lock()
			if e.enc == next {
				e.deltaFrom, e.delta = base.Version, delta
			}
			s.mu.Unlock()
		}
		return nil, delta, true, nil
	}
	if full == nil {
		if full, err = fullJSON(cfg); err != nil {
			return nil, nil, false, err
		}
		s.mu.Lock()
		if e.enc == next {
			e.full = full
		}
		s.mu.Unlock()
	}
	return full, nil, true, nil
}

// Get returns the latest config of gw (nil if none) and a channel closed on the next change.
// The returned config is shared: callers must not modify it.
func (s *Snapshots) Get(gw GatewayKey) (*config.Config, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(gw)
	return e.cfg, e.changed
}

// Keys lists the Gateways that have a snapshot.
func (s *Snapshots) Keys() []GatewayKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]GatewayKey, 0, len(s.entries))
	for k, e := range s.entries {
		if e.cfg != nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// entry returns gw's entry, creating an empty one so waiters have a channel to wait on
// before the first publish.
func (s *Snapshots) entry(gw GatewayKey) *snapshot {
	e, ok := s.entries[gw]
	if !ok {
		e = &snapshot{changed: make(chan struct{})}
		s.entries[gw] = e
	}
	return e
}
