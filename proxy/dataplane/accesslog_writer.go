package dataplane

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// accessQueue bounds the lines waiting for the writer; when it is
	// full (the output is slower than the traffic) lines are dropped and
	// counted, never waited for.
	accessQueue = 8192
	// accessLineCap is the buffer size lines start with; longer ones
	// grow, and buffers that grew past maxPooledLine are not pooled.
	accessLineCap  = 1024
	maxPooledLine  = 16 << 10
	accessBufWrite = 64 << 10
	// accessFlush is how often a busy writer takes the queue: lines
	// wait at most about this long, and the queue holds accessQueue
	// lines per accessFlush (160,000 lines/s) before dropping.
	accessFlush = 50 * time.Millisecond
)

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, accessLineCap); return &b }}

func getLine() *[]byte { return linePool.Get().(*[]byte) }

func putLine(b *[]byte) {
	if cap(*b) > maxPooledLine {
		return
	}
	*b = (*b)[:0]
	linePool.Put(b)
}

// logWriter writes access-log lines with one goroutine, started by the
// first line: requests encode their line and queue it without waiting;
// the goroutine writes them in batches through a buffer, flushed at
// least every accessFlush.
type logWriter struct {
	out     io.Writer
	dropped prometheus.Counter

	start   sync.Once
	started atomic.Bool
	closed  atomic.Bool
	queue   chan *[]byte
	done    chan struct{}
}

func newLogWriter(out io.Writer, dropped prometheus.Counter) *logWriter {
	return &logWriter{out: out, dropped: dropped, queue: make(chan *[]byte, accessQueue), done: make(chan struct{})}
}

// send queues a line (ending in a newline); the writer owns it from now
// on.
func (w *logWriter) send(line *[]byte) {
	if !w.started.Load() {
		if w.closed.Load() {
			putLine(line)
			return
		}
		w.start.Do(func() {
			w.started.Store(true)
			go w.run()
		})
	}
	select {
	case w.queue <- line:
	default:
		w.dropped.Inc()
		putLine(line)
	}
}

func (w *logWriter) run() {
	defer close(w.done)
	bw := bufio.NewWriterSize(w.out, accessBufWrite)
	// Idle, the goroutine waits for a line. Once one comes it takes the
	// queue in batches every accessFlush until a batch is empty: under
	// load, requests queue their lines without waking it.
	for {
		if !w.write(bw, <-w.queue) {
			return
		}
		for {
			time.Sleep(accessFlush)
			n := 0
			for drained := false; !drained; {
				select {
				case line := <-w.queue:
					if !w.write(bw, line) {
						return
					}
					n++
				default:
					drained = true
				}
			}
			bw.Flush() //nolint:errcheck // nowhere to report a failed log write
			if n == 0 {
				break
			}
		}
	}
}

// write buffers a line; false for close's marker, after a flush.
func (w *logWriter) write(bw *bufio.Writer, line *[]byte) bool {
	if line == nil {
		bw.Flush() //nolint:errcheck // nowhere to report a failed log write
		return false
	}
	bw.Write(*line) //nolint:errcheck // a failed write loses log lines only; bufio keeps the error and drops the rest
	putLine(line)
	return true
}

// closeTimeout bounds how long close waits for a stuck output.
const closeTimeout = 5 * time.Second

// close writes the queued lines and stops the goroutine, waiting at most
// closeTimeout for the output.
func (w *logWriter) close() {
	if w.closed.Swap(true) || !w.started.Load() {
		return
	}
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case w.queue <- nil:
	case <-t.C:
		return
	}
	select {
	case <-w.done:
	case <-t.C:
	}
}

// newAccessOutput returns the writer of a runtime's access log, with
// agentgateway_access_log_dropped_total registered on reg (when not nil).
func newAccessOutput(out io.Writer, reg prometheus.Registerer) *logWriter {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agentgateway_access_log_dropped_total",
		Help: "Access-log lines dropped because the output was slower than the traffic.",
	})
	if reg != nil {
		reg.MustRegister(dropped)
	}
	return newLogWriter(out, dropped)
}
