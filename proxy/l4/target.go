package l4

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
)

// WeightedTarget is one backend address and its share of new connections or
// sessions. A target with Weight 0 receives nothing, which is how the Gateway
// API expresses a backendRef that is present but switched off.
type WeightedTarget struct {
	// Addr is a "host:port" dialed as is; resolution, if any, happens at dial time.
	Addr   string
	Weight uint32
	// TLS, when set, makes the proxy open TLS to the target with this client
	// config (a BackendTLSPolicy behind a route whose TLS the proxy
	// terminated) and forward the plaintext over it. TCP routes only.
	TLS *tls.Config
}

// picker chooses a target in proportion to its weight. It is immutable after
// construction so that connections can share it without locks while Update
// swaps in a new one.
type picker struct {
	addrs []string
	tls   []*tls.Config // of each address; nil entries dial plain TCP
	// cum holds the running sum of weights; a uniform draw in [0, total) is
	// located with a binary search, which stays cheap for large target lists.
	cum   []uint64
	total uint64
}

var errNoBackend = errors.New("no backend with a non-zero weight")

func newPicker(targets []WeightedTarget) (*picker, error) {
	p := &picker{}
	for i, t := range targets {
		if _, _, err := net.SplitHostPort(t.Addr); err != nil {
			return nil, fmt.Errorf("backend %d: address %q must be host:port: %w", i, t.Addr, err)
		}
		if t.Weight == 0 {
			continue
		}
		p.total += uint64(t.Weight)
		p.addrs = append(p.addrs, t.Addr)
		p.tls = append(p.tls, t.TLS)
		p.cum = append(p.cum, p.total)
	}
	return p, nil
}

// pick returns a target address, or errNoBackend when every weight is zero so
// the caller closes the client connection: the L4 equivalent of the spec's 500.
func (p *picker) pick() (string, error) {
	addr, _, err := p.pickTarget()
	return addr, err
}

// pickTarget is pick with the target's TLS client config (nil for plain TCP).
func (p *picker) pickTarget() (string, *tls.Config, error) {
	switch len(p.addrs) {
	case 0:
		return "", nil, errNoBackend
	case 1:
		return p.addrs[0], p.tls[0], nil
	}
	n := rand.Uint64N(p.total)
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if p.cum[mid] > n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return p.addrs[lo], p.tls[lo], nil
}
