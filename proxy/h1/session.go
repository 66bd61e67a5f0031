package h1

import "errors"

// Step is what a Serve step function asks for next.
type Step int

const (
	// StepRead means more bytes are needed; Serve reads them (waiting until
	// the connection is readable) and calls the step function again.
	StepRead Step = iota
	// StepDone makes Serve return nil.
	StepDone
)

// ErrNoSession is returned by Serve on a connection without a file
// descriptor (or off Linux); the caller reads with Fill instead.
var ErrNoSession = errors.New("h1: connection cannot serve a session")

// Serve calls step with the unread bytes in the buffer, first at once
// if some are buffered, then after each read that gets more. Everything
// happens inside one wait of the netpoller (syscall.RawConn.Read), which
// is what makes it cheaper than a loop of Fill: the netpoller forgets
// readiness when a wait starts, so Fill must try a read before it can
// wait, and between requests that read finds nothing. Within Serve,
// readiness that arrives while step runs (a pipelined request, a client
// closing) is kept, so once step has consumed a read that emptied the
// socket, waiting needs no read attempt.
//
// step may write to the connection and use other connections. It must
// not read this one except through Buffered and Discard (the read lock
// is held); to read it the ordinary way, return StepDone and call Fill.
// Serve returns the read error (io.EOF, a deadline, ErrBufferFull when
// step asks for more with a full buffer, net.ErrClosed...) or nil after
// StepDone. OnTimeout is not used.
func (c *Conn) Serve(step func() Step) error {
	if c.raw == nil || !sessions {
		return ErrNoSession
	}
	return c.serve(step)
}

// Watch watches the peer while the caller waits for something else,
// without reading its bytes: if the peer closes or resets the connection,
// gone runs on another goroutine. Bytes from the peer (a pipelined
// request) end the watch and stay unread. The returned stop ends the
// watch and waits until gone, if it runs, has returned. Watch may be
// called inside a Serve step.
func (c *Conn) Watch(gone func()) (stop func()) {
	if c.raw != nil {
		if stop, ok := c.watchRaw(gone); ok {
			return stop
		}
	}
	return c.watchFill(gone)
}

// CanServe reports whether Serve works on this connection.
func (c *Conn) CanServe() bool { return c.raw != nil && sessions }
