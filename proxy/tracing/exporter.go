package tracing

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sender delivers one batch; see NewGRPCSender and NewHTTPSender.
type Sender interface {
	Send(ctx context.Context, batch []*Span) error
	Close() error
}

// ExporterOptions bound an exporter's memory and pace.
type ExporterOptions struct {
	// QueueSize is how many finished spans wait at most (default 2048);
	// more are dropped and counted.
	QueueSize int
	// BatchSize is the most spans per export (default 512); a full batch
	// is sent at once.
	BatchSize int
	// Interval is the longest a span waits for its batch to fill
	// (default 1s).
	Interval time.Duration
	// Timeout bounds one export (default 10s).
	Timeout time.Duration
}

func (o *ExporterOptions) defaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 2048
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.BatchSize > o.QueueSize {
		o.BatchSize = o.QueueSize
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// Metrics are the exporters' Prometheus collectors, labelled by exporter
// (its endpoint).
type Metrics struct {
	Exported     *prometheus.CounterVec
	Dropped      *prometheus.CounterVec
	ExportErrors *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Exported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_tracing_spans_exported_total",
			Help: "Spans the OTLP collector accepted, by exporter endpoint.",
		}, []string{"endpoint"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_tracing_spans_dropped_total",
			Help: "Spans dropped because the export queue was full, an export failed or the collector rejected them, by exporter endpoint.",
		}, []string{"endpoint"}),
		ExportErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgateway_tracing_export_errors_total",
			Help: "Failed OTLP exports (one per batch), by exporter endpoint.",
		}, []string{"endpoint"}),
	}
	if reg != nil {
		reg.MustRegister(m.Exported, m.Dropped, m.ExportErrors)
	}
	return m
}

// Exporter queues finished spans and sends them in batches from one
// goroutine. Enqueueing never blocks.
type Exporter struct {
	send     Sender
	opts     ExporterOptions
	q        chan *Span
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	exported prometheus.Counter
	dropped  prometheus.Counter
	errors   prometheus.Counter
}

// NewExporter starts an exporter sending through s. endpoint labels its
// metrics; m may be nil (no metrics).
func NewExporter(s Sender, endpoint string, opts ExporterOptions, m *Metrics) *Exporter {
	opts.defaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	e := &Exporter{send: s, opts: opts, q: make(chan *Span, opts.QueueSize),
		stop: make(chan struct{}), done: make(chan struct{}),
		exported: m.Exported.WithLabelValues(endpoint), dropped: m.Dropped.WithLabelValues(endpoint),
		errors: m.ExportErrors.WithLabelValues(endpoint)}
	go e.run()
	return e
}

func (e *Exporter) enqueue(s *Span) {
	select {
	case e.q <- s:
	default:
		e.dropped.Inc()
		s.release()
	}
}

func (e *Exporter) run() {
	defer close(e.done)
	batch := make([]*Span, 0, e.opts.BatchSize)
	t := time.NewTimer(e.opts.Interval)
	defer t.Stop()
	for {
		select {
		case s := <-e.q:
			batch = append(batch, s)
			if len(batch) < e.opts.BatchSize {
				continue
			}
		case <-t.C:
		case <-e.stop:
			// Flush what is queued, within one export timeout.
			for {
				select {
				case s := <-e.q:
					batch = append(batch, s)
					if len(batch) == e.opts.BatchSize {
						batch = e.export(batch)
					}
					continue
				default:
				}
				break
			}
			e.export(batch)
			return
		}
		batch = e.export(batch)
		t.Reset(e.opts.Interval)
	}
}

// export sends batch and returns it emptied, its spans released.
func (e *Exporter) export(batch []*Span) []*Span {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
	err := e.send.Send(ctx, batch)
	cancel()
	var rej *RejectedError
	switch {
	case errors.As(err, &rej):
		e.exported.Add(float64(len(batch) - rej.Spans))
		e.dropped.Add(float64(rej.Spans))
	case err != nil:
		e.errors.Inc()
		e.dropped.Add(float64(len(batch)))
	default:
		e.exported.Add(float64(len(batch)))
	}
	for i, s := range batch {
		s.release()
		batch[i] = nil
	}
	return batch[:0]
}

// Close stops the exporter after sending what is queued (bounded by the
// export timeout) and closes its sender. Spans finished afterwards are
// dropped.
func (e *Exporter) Close() error {
	var err error
	e.once.Do(func() {
		close(e.stop)
		<-e.done
		err = e.send.Close()
		// Spans that raced with the close.
		for {
			select {
			case s := <-e.q:
				e.dropped.Inc()
				s.release()
				continue
			default:
			}
			return
		}
	})
	return err
}

// RejectedError reports spans the collector refused (OTLP partial
// success).
type RejectedError struct {
	Spans   int
	Message string
}

func (e *RejectedError) Error() string {
	return "collector rejected spans: " + e.Message
}
