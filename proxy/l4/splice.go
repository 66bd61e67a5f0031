package l4

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// copyBufSize is per direction, held while a connection waits in Read, so
// it is what an idle connection costs: 64 KiB moves bulk data faster
// (go test -run '^$' -bench TCPThroughput ./proxy/l4 measures it) but
// doubles that cost for every idle client.
const copyBufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// activity is the last time any byte moved in either direction of a
// connection pair. One timer per pair checks it, instead of a read deadline
// per direction, because a connection that only streams one way (a download)
// is busy even though its other direction reads nothing for hours.
type activity struct {
	start time.Time
	last  atomic.Int64 // nanoseconds since start, monotonic
}

func (a *activity) touch() { a.last.Store(int64(time.Since(a.start))) }

func (a *activity) idleFor() time.Duration {
	return time.Since(a.start) - time.Duration(a.last.Load())
}

// closeWriter is implemented by *net.TCPConn, *net.UnixConn and *tls.Conn.
type closeWriter interface{ CloseWrite() error }

// splice copies bytes both ways between a and b until both directions have
// seen EOF, an error occurs, idle passes without traffic, or the caller
// closes one of them.
// EOF in one direction is forwarded as a half-close (FIN, or close_notify on
// TLS) so protocols that signal "done sending" by shutting down their write
// side keep working; the other direction carries on until it ends too.
// splice closes the connections only to abort; the caller closes them after.
// The bytes moved are added to c and to ses.
func splice(a, b net.Conn, idle time.Duration, c *counters, ses *Session) error {
	p := &pair{a: a, b: b, act: activity{start: time.Now()}}
	if idle > 0 {
		p.mu.Lock()
		p.timer = time.AfterFunc(idle, func() { p.checkIdle(idle) })
		p.mu.Unlock()
	}

	done := make(chan struct{})
	var fromClient, toClient uint64
	go func() {
		defer close(done)
		if err := copyHalf(b, a, &p.act, &c.bytesFromClient, &fromClient); err != nil {
			p.kill(err)
		}
	}()
	if err := copyHalf(a, b, &p.act, &c.bytesToClient, &toClient); err != nil {
		p.kill(err)
	}
	<-done
	ses.BytesFromClient += fromClient
	ses.BytesToClient += toClient

	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	if p.timer != nil {
		p.timer.Stop()
	}
	return p.err
}

// pair is the shared state of the two directions of one spliced connection.
type pair struct {
	a, b net.Conn
	act  activity

	mu       sync.Mutex
	timer    *time.Timer
	err      error // the first error; later ones are consequences of it
	killed   bool
	finished bool
}

func (p *pair) checkIdle(idle time.Duration) {
	p.mu.Lock()
	if p.finished || p.killed {
		p.mu.Unlock()
		return
	}
	if d := p.act.idleFor(); d < idle {
		p.timer.Reset(idle - d)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.kill(errIdle)
}

// kill records err and closes both connections, which unblocks whichever
// direction is still in Read or Write; the caller's own Close calls then
// become no-ops.
func (p *pair) kill(err error) {
	p.mu.Lock()
	if p.killed {
		p.mu.Unlock()
		return
	}
	p.killed = true
	p.err = err
	p.mu.Unlock()
	p.a.Close()
	p.b.Close()
}

var errIdle = errors.New("idle timeout")

// copyHalf copies src to dst and half-closes dst on a clean EOF. It uses its
// own loop instead of io.Copy (whose splice(2) fast path would be faster for
// TCP to TCP) because idle accounting needs to see every chunk move.
// Its own count is only read after it returns.
func copyHalf(dst, src net.Conn, act *activity, bytes *atomic.Uint64, count *uint64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			act.touch()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			act.touch()
			bytes.Add(uint64(n))
			*count += uint64(n)
		}
		if rerr == io.EOF {
			if cw, ok := dst.(closeWriter); ok {
				if err := cw.CloseWrite(); err != nil {
					return err
				}
				return nil
			}
			// No half-close available: a full close is the only way to
			// tell the peer we are done.
			return io.EOF
		}
		if rerr != nil {
			return rerr
		}
	}
}
