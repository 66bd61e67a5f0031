package h1

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// ErrBufferFull is returned by Fill when limit bytes are buffered and
// unread.
var ErrBufferFull = errors.New("h1: buffer full")

// Conn is a connection with a read buffer and an output buffer. Both come
// from pools and go back with Release while the connection is idle, so an
// idle keep-alive connection holds no buffer. A Conn is used by one
// goroutine at a time.
type Conn struct {
	nc    net.Conn
	raw   syscall.RawConn // nil when nc has no file descriptor
	rsize int             // read buffer size to start with
	rbuf  []byte
	rbufp *[]byte // the pooled buffer behind rbuf, nil if not pooled
	r, w  int     // unread bytes are rbuf[r:w]
	wbuf  []byte
	wbufp *[]byte
	vec   [2][]byte
	bufs  net.Buffers
	keys  []field // scratch for sorting header fields

	deadline time.Time // the read deadline last set

	// BodyBytes counts the bytes passed to WriteBody (body payload,
	// without chunk framing), for access logs.
	BodyBytes int64

	// OnTimeout, when set, is called when a read fails with a timeout;
	// if it returns true the read is tried again (it must have moved or
	// cleared the deadline).
	OnTimeout func() bool

	// State of the raw I/O callbacks (io_linux.go), in fields so that
	// each callback is allocated once per connection.
	rawFn      func(fd uintptr) bool // write, then read
	rawReadFn  func(fd uintptr) bool
	rawWriteFn func(fd uintptr) bool
	rawBuf     []byte
	rawPending []byte
	rawWrote   bool
	rawN       int
	rawWErr    error
	rawRErr    error

	// State of Serve (session.go).
	serveFn   func(fd uintptr) bool
	sStep     func() Step
	sErr      error
	sRead     bool // read before calling sStep
	sMore     bool // the socket may hold bytes no readiness will announce
	inSession bool
}

// NewConn wraps nc. readSize is the size of the read buffer (rounded to a
// pool size class); it also bounds a request head.
func NewConn(nc net.Conn, readSize int) *Conn {
	c := &Conn{nc: nc, rsize: classSize(readSize)}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c
}

// SetReadDeadline sets the read deadline of the connection.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	return c.nc.SetReadDeadline(t)
}

// ClearReadDeadline removes the read deadline, if one is set.
func (c *Conn) ClearReadDeadline() {
	if !c.deadline.IsZero() {
		c.SetReadDeadline(time.Time{})
	}
}

// ExtendReadDeadline sets the read deadline to now+d, but keeps an armed
// deadline that is at most slack earlier than that: moving the deadline
// on every request would cost a timer update each time.
func (c *Conn) ExtendReadDeadline(now time.Time, d, slack time.Duration) {
	t := now.Add(d)
	if c.deadline.After(now) && !c.deadline.After(t) && t.Sub(c.deadline) <= slack {
		return
	}
	c.SetReadDeadline(t)
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Buffered returns the unread bytes; they stay valid until the next Fill
// or Release.
func (c *Conn) Buffered() []byte { return c.rbuf[c.r:c.w] }

// Discard consumes n unread bytes.
func (c *Conn) Discard(n int) {
	c.r += n
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
}

// BufferSize is the size of the read buffer.
func (c *Conn) BufferSize() int { return c.rsize }

// Fill reads at least one more byte into the read buffer, keeping the
// unread ones. It returns ErrBufferFull when the buffer is full of unread
// bytes, and io.EOF when the peer closed with nothing more to read.
func (c *Conn) Fill() error { return c.FillLimit(0) }

// FillLimit is Fill with a buffer that may grow until it holds limit
// unread bytes.
func (c *Conn) FillLimit(limit int) error {
	c.prepareRead()
	if c.w == len(c.rbuf) {
		if c.w-c.r >= limit {
			return ErrBufferFull
		}
		c.grow(min(limit, 2*len(c.rbuf)))
	}
	for {
		n, err := c.read(c.rbuf[c.w:])
		c.w += n
		if n > 0 {
			return nil
		}
		if err == nil {
			return io.ErrNoProgress
		}
		if !c.retryAfter(err) {
			return err
		}
	}
}

// retryAfter reports whether a read that failed with err should be tried
// again, after OnTimeout.
func (c *Conn) retryAfter(err error) bool {
	var ne net.Error
	return c.OnTimeout != nil && errors.As(err, &ne) && ne.Timeout() && c.OnTimeout()
}

// grow replaces the read buffer with one of size bytes.
func (c *Conn) grow(size int) {
	p := getBuf(size)
	c.w = copy(*p, c.rbuf[c.r:c.w])
	c.r = 0
	putBuf(c.rbufp)
	c.rbufp, c.rbuf = p, *p
}

// prepareRead makes room at the end of the read buffer.
func (c *Conn) prepareRead() {
	if c.rbuf == nil {
		c.rbufp = getBuf(c.rsize)
		c.rbuf = *c.rbufp
		c.r, c.w = 0, 0
		return
	}
	if c.r > 0 && c.w == len(c.rbuf) {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
}

// Read reads body bytes: first from the buffer, then from the connection.
func (c *Conn) Read(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, c.rbuf[c.r:c.w])
		c.Discard(n)
		return n, nil
	}
	return c.read(p)
}

// Out returns the output buffer, for appending.
func (c *Conn) Out() *[]byte {
	if c.wbuf == nil {
		c.wbufp = getBuf(outSize)
		c.wbuf = (*c.wbufp)[:0]
	}
	return &c.wbuf
}

// Pending reports how many output bytes are not written yet.
func (c *Conn) Pending() int { return len(c.wbuf) }

// Flush writes the output buffer.
func (c *Conn) Flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	err := c.write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return err
}

// WriteBody queues p after the output buffer, writing both with one
// writev when p does not fit.
func (c *Conn) WriteBody(p []byte) error {
	c.BodyBytes += int64(len(p))
	out := c.Out()
	if len(*out)+len(p) <= cap(*out) {
		*out = append(*out, p...)
		return nil
	}
	if len(*out) == 0 {
		return c.write(p)
	}
	c.vec[0], c.vec[1] = *out, p
	c.bufs = c.vec[:]
	_, err := c.bufs.WriteTo(c.nc)
	c.vec = [2][]byte{}
	c.bufs = nil
	*out = (*out)[:0]
	return err
}

// Release returns the buffers to their pools when they hold nothing.
func (c *Conn) Release() {
	if c.rbuf != nil && c.r == c.w {
		putBuf(c.rbufp)
		c.rbuf, c.rbufp, c.r, c.w = nil, nil, 0, 0
	}
	if c.wbuf != nil && len(c.wbuf) == 0 {
		// Appending may have outgrown the pooled buffer.
		if c.wbufp != nil && cap(c.wbuf) == cap(*c.wbufp) {
			putBuf(c.wbufp)
		}
		c.wbuf, c.wbufp = nil, nil
	}
}

// Detach returns a copy of the unread bytes and releases the buffers; the
// caller takes over the connection.
func (c *Conn) Detach() []byte {
	var rest []byte
	if c.r < c.w {
		rest = append([]byte(nil), c.rbuf[c.r:c.w]...)
	}
	c.r, c.w = 0, 0
	c.wbuf = c.wbuf[:0]
	c.Release()
	return rest
}

// Close closes the connection and releases the buffers.
func (c *Conn) Close() error {
	c.r, c.w = 0, 0
	if c.wbuf != nil {
		c.wbuf = c.wbuf[:0]
	}
	c.Release()
	return c.nc.Close()
}

// WriteError wraps an error writing a request to a backend, so the
// caller can tell it from an error reading the reply.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "write: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// FlushAndFill writes the output buffer (a request) and reads the first
// bytes of the reply into the empty read buffer. Write errors are
// *WriteError.
func (c *Conn) FlushAndFill() error {
	if c.raw == nil || c.r != c.w || len(c.wbuf) == 0 {
		if err := c.Flush(); err != nil {
			return &WriteError{err}
		}
		return c.Fill()
	}
	return c.rawFlushAndFill()
}

// watchFill is Watch for a connection without a file descriptor: a
// goroutine reads, like net/http's background read; bytes it reads stay
// buffered.
func (c *Conn) watchFill(gone func()) func() {
	if c.inSession {
		return func() {} // cannot happen: sessions need a descriptor
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := c.Fill()
		var ne net.Error
		if err != nil && !errors.Is(err, ErrBufferFull) && !(errors.As(err, &ne) && ne.Timeout()) {
			gone()
		}
	}()
	return func() {
		c.SetReadDeadline(aLongTimeAgo)
		<-done
	}
}

var aLongTimeAgo = time.Unix(1, 0)

const outSize = 4 << 10

// Buffers come in a few size classes so pooled ones fit every use.
var classes = [...]int{4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10}

var pools [len(classes)]sync.Pool

func classSize(n int) int {
	for _, s := range classes {
		if n <= s {
			return s
		}
	}
	return classes[len(classes)-1]
}

// getBuf returns a buffer of at least size bytes (exactly size past the
// largest class, and then not pooled).
func getBuf(size int) *[]byte {
	for i, s := range classes {
		if size <= s {
			if b, ok := pools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, s)
			return &b
		}
	}
	b := make([]byte, size)
	return &b
}

func putBuf(p *[]byte) {
	if p == nil {
		return
	}
	for i, s := range classes {
		if cap(*p) == s {
			*p = (*p)[:s]
			pools[i].Put(p)
			return
		}
	}
}
