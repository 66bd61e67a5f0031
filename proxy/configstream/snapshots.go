package configstream

import (
	"sync"

	"github.com/agentgateway/agentgateway-go/proxy/config"
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
	// raw is cfg as Encode returns it, shared by every push of this version; nil until
	// the first push when the publisher did not provide it.
	raw []byte
	// changed is closed (and replaced) on every publish: a broadcast to all waiters.
	changed chan struct{}
}

// NewSnapshots returns an empty store.
func NewSnapshots() *Snapshots {
	return &Snapshots{entries: map[GatewayKey]*snapshot{}}
}

// Set stores cfg as the latest config of gw (cfg.Version must be set; see VersionOf) and
// reports whether it differs from the previous one. A nil cfg removes the Gateway: its
// connected proxies keep serving what they have. Set takes ownership of cfg.
func (s *Snapshots) Set(gw GatewayKey, cfg *config.Config) bool {
	return s.SetEncoded(gw, cfg, nil)
}

// SetEncoded is Set with cfg's encoding from Encode (raw), which pushes then send as is
// instead of encoding cfg again. A nil raw is encoded on the first push.
func (s *Snapshots) SetEncoded(gw GatewayKey, cfg *config.Config, raw []byte) bool {
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
	e.cfg, e.raw = cfg, raw
	close(e.changed)
	e.changed = make(chan struct{})
	return true
}

// encoded is Get with the config's encoding (see Encode), made here on first use.
func (s *Snapshots) encoded(gw GatewayKey) (*config.Config, []byte, <-chan struct{}, error) {
	s.mu.Lock()
	e := s.entry(gw)
	cfg, raw, changed := e.cfg, e.raw, e.changed
	s.mu.Unlock()
	if cfg == nil || raw != nil {
		return cfg, raw, changed, nil
	}
	// Encode outside the lock: other Gateways' publishers and streams must not wait.
	_, raw, err := Encode(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	s.mu.Lock()
	if e.cfg == cfg {
		e.raw = raw
	}
	s.mu.Unlock()
	return cfg, raw, changed, nil
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
