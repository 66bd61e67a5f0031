package h1

import (
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket I/O goes through syscall.RawConn with raw system calls. The
// sockets are non-blocking, so a call never blocks; waiting is the
// netpoller's, as for net.Conn. What this saves is the scheduler's
// entersyscall/exitsyscall around each call, which also wakes the
// runtime's monitor thread every time the process was idle: at tens of
// thousands of requests per second that is a large share of the CPU.

func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

// read reads into p, waiting for data.
func (c *Conn) read(p []byte) (int, error) {
	if c.raw == nil {
		return c.nc.Read(p)
	}
	if c.rawReadFn == nil {
		c.rawReadFn = c.rawReadStep
	}
	c.rawBuf, c.rawN, c.rawRErr = p, 0, nil
	err := c.raw.Read(c.rawReadFn)
	n, rerr := c.rawN, c.rawRErr
	c.rawBuf, c.rawRErr = nil, nil
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) rawReadStep(fd uintptr) bool { return c.rawReadInto(fd, c.rawBuf) }

// rawReadInto is one non-blocking read of fd into buf for a RawConn.Read callback: false
// (wait until readable) on EAGAIN; otherwise the count in rawN or the error in rawRErr.
func (c *Conn) rawReadInto(fd uintptr, buf []byte) bool {
	for {
		n, e := rawRead(fd, buf)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.rawN = n
		default:
			c.rawRErr = e
		}
		return true
	}
}

// write writes all of p, waiting while the socket buffer is full.
func (c *Conn) write(p []byte) error {
	if c.raw == nil {
		_, err := c.nc.Write(p)
		return err
	}
	if c.rawWriteFn == nil {
		c.rawWriteFn = c.rawWriteStep
	}
	c.rawPending, c.rawWErr = p, nil
	err := c.raw.Write(c.rawWriteFn)
	werr := c.rawWErr
	c.rawPending, c.rawWErr = nil, nil
	if err != nil {
		return err
	}
	return werr
}

func (c *Conn) rawWriteStep(fd uintptr) bool {
	for len(c.rawPending) > 0 {
		n, e := rawWrite(fd, c.rawPending)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.rawPending = c.rawPending[n:]
		default:
			c.rawWErr = e
			return true
		}
	}
	return true
}

// rawFlushAndFill writes the request and then waits for the reply with
// the connection's read readiness armed before the write, so no read is
// attempted before the backend can have answered: a read would find
// nothing, and only then wait. The reply cannot arrive before the request
// is written, so no readiness event can be missed. A write that would
// block finishes with an ordinary write.
func (c *Conn) rawFlushAndFill() error {
	c.prepareRead()
	if c.rawFn == nil {
		c.rawFn = c.rawStep
	}
	c.rawPending, c.rawWrote, c.rawN, c.rawWErr, c.rawRErr = c.wbuf, false, 0, nil, nil
	err := c.raw.Read(c.rawFn)
	pending, wrote, werr, n, rerr := c.rawPending, c.rawWrote, c.rawWErr, c.rawN, c.rawRErr
	c.rawPending, c.rawWErr, c.rawRErr = nil, nil, nil
	c.wbuf = c.wbuf[:0]
	switch {
	case werr == syscall.EAGAIN || !wrote && werr == nil && err != nil && c.retryAfter(err):
		// The write would block, or the deadline passed before it was
		// tried: write the rest the ordinary way.
		if err := c.write(pending); err != nil {
			return &WriteError{err}
		}
		return c.Fill()
	case werr != nil:
		return &WriteError{werr}
	case !wrote:
		return &WriteError{err}
	case err != nil:
		if c.retryAfter(err) {
			return c.Fill()
		}
		return err
	case rerr != nil:
		return rerr
	case n == 0:
		return io.EOF
	}
	c.w += n
	return nil
}

// rawStep is the callback of syscall.RawConn.Read for rawFlushAndFill:
// the first call writes, later calls (after readiness) read.
func (c *Conn) rawStep(fd uintptr) bool {
	if !c.rawWrote {
		for len(c.rawPending) > 0 {
			n, e := rawWrite(fd, c.rawPending)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				c.rawWErr = e
				return true
			}
			c.rawPending = c.rawPending[n:]
		}
		c.rawWrote = true
		rawWait()
		return false // wait until readable
	}
	return c.rawReadInto(fd, c.rbuf[c.w:])
}

// rawWaiting, when set (by tests), runs when a raw read callback gives up the socket to
// wait until it is readable: rawFlushAndFill after writing the whole request, Serve
// between steps, a watch. A test's peer can then send its bytes only once the connection
// (or the watch) waits.
var rawWaiting atomic.Pointer[func()]

// rawWait runs the rawWaiting hook, if a test set one.
func rawWait() {
	if hook := rawWaiting.Load(); hook != nil {
		(*hook)()
	}
}

// watchEnded, when set (by tests), runs when a watch has seen the peer's bytes, close or
// error and, unless stopped, called gone: a test can stop the watch only after that.
var watchEnded atomic.Pointer[func()]

// Alive reports whether an idle connection still looks usable: no EOF,
// error or unexpected bytes waiting. It costs one non-blocking peek.
func (c *Conn) Alive() bool {
	if c.raw == nil {
		return true
	}
	c.SetReadDeadline(time.Time{})
	alive := false
	var b [1]byte
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			alive = err == syscall.EAGAIN
			return true
		}
	})
	return err == nil && alive
}

const sessions = true

func (c *Conn) serve(step func() Step) error {
	if c.serveFn == nil {
		c.serveFn = c.serveStep
	}
	// Readiness is reset when the wait starts: read before waiting.
	c.sStep, c.sErr, c.sRead, c.sMore, c.inSession = step, nil, c.r == c.w, true, true
	err := c.raw.Read(c.serveFn)
	serr := c.sErr
	c.sStep, c.sErr, c.inSession = nil, nil, false
	if err != nil {
		return err
	}
	return serr
}

// serveStep is the callback of syscall.RawConn.Read for Serve. It is
// called again each time the socket becomes readable after it returned
// false.
func (c *Conn) serveStep(fd uintptr) bool {
	for {
		if c.sRead {
			c.prepareRead()
			if c.w == len(c.rbuf) {
				c.sErr = ErrBufferFull
				return true
			}
			space := c.rbuf[c.w:]
			n, e := rawRead(fd, space)
			switch e {
			case 0:
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				c.sMore = false
				rawWait()
				return false // wait until readable
			default:
				c.sErr = e
				return true
			}
			if n == 0 {
				c.sErr = io.EOF
				return true
			}
			c.w += n
			c.sMore = n == len(space)
			c.sRead = false
		}
		if c.sStep() == StepDone {
			return true
		}
		c.sRead = true
		if !c.sMore {
			// The last read emptied the socket, and readiness since then
			// is kept: wait without trying a read that would find nothing.
			rawWait()
			return false
		}
	}
}

// watchRaw is Watch on a duplicate of the descriptor, with its own place
// in the netpoller: it waits and peeks there, so it never takes this
// connection's read lock (which Serve holds).
func (c *Conn) watchRaw(gone func()) (func(), bool) {
	fd, derr := -1, error(nil)
	if err := c.raw.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || derr != nil {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), "watch")
	rc, err := f.SyscallConn()
	if err != nil || f.SetReadDeadline(time.Time{}) != nil {
		// Not in the netpoller: nothing could end a wait.
		f.Close() //nolint:errcheck // a dup of the socket: nothing was written through it
		return nil, false
	}
	var stopped atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		peerGone := false
		err := rc.Read(func(s uintptr) bool {
			for {
				n, _, e := syscall.Recvfrom(int(s), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				switch e {
				case nil:
					peerGone = n == 0
				case syscall.EINTR:
					continue
				case syscall.EAGAIN:
					rawWait()
					return false
				default:
					peerGone = true
				}
				return true
			}
		})
		if err == nil && peerGone && !stopped.Load() {
			gone()
		}
		if hook := watchEnded.Load(); hook != nil && err == nil {
			(*hook)()
		}
	}()
	return func() {
		stopped.Store(true)
		f.SetReadDeadline(aLongTimeAgo)
		<-done
		f.Close() //nolint:errcheck // a dup of the socket: nothing was written through it
	}, true
}
