package upstream

// Discard releases the backends of a set Prepare returned whose config is
// never applied: those the pool does not hold drop their idle connections
// (a set that was never served has none; a request that reached one anyway
// finishes normally). The pool's own backends are left as they are.
func (p *Pool) Discard(set map[string]*Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, b := range set {
		if live := p.backends[name]; live != b {
			b.retire(live) // keeping the connection pools it shares with live
		}
	}
}
