package dataplane

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// A bind whose identity changes (a new name or protocol, HTTP/3 switched on
// or off) gets a new server, but it often keeps its address and port. The
// new server must be able to take the socket while the config is being
// built, before anything of the serving generation is stopped, so that a
// config that fails later leaves the old bind serving as it was. A socket
// of a bind the config drops is therefore duplicated (dup(2)) for the new
// server: both descriptors name the same kernel socket, the port is never
// released, and connections waiting in its accept queue go to whichever
// descriptor accepts them. Once the new generation is swapped in, the old
// server closes its descriptor and drains; if the config is rejected, the
// duplicate is closed and the old server never notices.

// socketKey names a socket by network and the address it was bound to.
type socketKey struct {
	network string // "tcp" or "udp"
	addr    string // host:port as in the bind
}

// handover holds the sockets of the serving binds that the config being
// built drops, for its new binds to take over. Guarded by Runtime.mu.
type handover struct {
	tcp map[string]net.Listener
	udp map[string]net.PacketConn
	// port says which dropped bind holds a port, per network, to explain a
	// bind that cannot take it because its address differs.
	port  map[string]string
	taken map[socketKey]bool
}

// add offers the sockets of s, a server bound to addr, for takeover.
func (h *handover) add(s *server, addr string, port int) {
	if port == 0 {
		return // a kernel-chosen port is new on every bind
	}
	if s.ln != nil {
		h.tcp[addr] = s.ln
		h.port["tcp/"+strconv.Itoa(port)] = s.name
	}
	for _, pc := range []net.PacketConn{s.pc, s.h3pc} {
		if pc != nil {
			h.udp[addr] = pc
			h.port["udp/"+strconv.Itoa(port)] = s.name
		}
	}
}

func newHandover() *handover {
	return &handover{tcp: map[string]net.Listener{}, udp: map[string]net.PacketConn{}, port: map[string]string{}, taken: map[socketKey]bool{}}
}

// listenTCP opens the listening socket of a bind: a duplicate of a dropped
// bind's socket on the same address, or a new one.
func (rt *Runtime) listenTCP(addr string) (net.Listener, error) {
	if h := rt.building; h != nil {
		if old, ok := h.tcp[addr]; ok && !h.taken[socketKey{"tcp", addr}] {
			ln, err := dupListener(old)
			if err != nil {
				return nil, err
			}
			h.taken[socketKey{"tcp", addr}] = true
			return ln, nil
		}
	}
	ln, err := net.Listen("tcp", addr)
	return ln, rt.building.explain("tcp", addr, err)
}

// listenUDP is listenTCP for UDP sockets (UDP binds and HTTP/3).
func (rt *Runtime) listenUDP(addr string) (net.PacketConn, error) {
	if h := rt.building; h != nil {
		if old, ok := h.udp[addr]; ok && !h.taken[socketKey{"udp", addr}] {
			pc, err := dupPacketConn(old)
			if err != nil {
				return nil, err
			}
			h.taken[socketKey{"udp", addr}] = true
			return pc, nil
		}
	}
	pc, err := net.ListenPacket("udp", addr)
	return pc, rt.building.explain("udp", addr, err)
}

// explain names the dropped bind that holds the port a new bind failed to
// bind on another address.
func (h *handover) explain(network, addr string, err error) error {
	if err == nil || h == nil {
		return err
	}
	_, port, perr := net.SplitHostPort(addr)
	if perr != nil {
		return err
	}
	if holder, ok := h.port[network+"/"+port]; ok {
		return fmt.Errorf("%w (bind %s, which this config removes, holds %s port %s on another address: move a bind to another address in two steps, or keep the address)", err, holder, network, port)
	}
	return err
}

// tookOver reports whether a new bind took over a socket of s.
func (h *handover) tookOver(s *server) bool {
	if h == nil {
		return false
	}
	for addr, ln := range h.tcp {
		if ln == s.ln && h.taken[socketKey{"tcp", addr}] {
			return true
		}
	}
	for addr, pc := range h.udp {
		if (pc == s.pc || pc == s.h3pc) && h.taken[socketKey{"udp", addr}] {
			return true
		}
	}
	return false
}

// dupListener returns a second listener on ln's socket.
func dupListener(ln net.Listener) (net.Listener, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("cannot share a non-TCP listener")
	}
	f, err := tl.File()
	if err != nil {
		return nil, fmt.Errorf("duplicate the socket of %s: %w", ln.Addr(), err)
	}
	defer f.Close() //nolint:errcheck // the listener made from f holds its own descriptor
	return net.FileListener(f)
}

// dupPacketConn returns a second PacketConn on pc's socket.
func dupPacketConn(pc net.PacketConn) (net.PacketConn, error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, errors.New("cannot share a non-UDP socket")
	}
	f, err := uc.File()
	if err != nil {
		return nil, fmt.Errorf("duplicate the socket of %s: %w", pc.LocalAddr(), err)
	}
	defer f.Close() //nolint:errcheck // the socket made from f holds its own descriptor
	return net.FilePacketConn(f)
}
