package tracing

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is the OTLP span kind.
type Kind int32

// Span kinds, with their OTLP numbers.
const (
	KindInternal Kind = 1
	KindServer   Kind = 2
	KindClient   Kind = 3
)

// Status is the OTLP status code of a span.
type Status int32

// Status codes, with their OTLP numbers.
const (
	StatusUnset Status = 0
	StatusOK    Status = 1
	StatusError Status = 2
)

// Attr is one span attribute: a string or an integer.
type Attr struct {
	Key   string
	Str   string
	Int   int64
	IsInt bool
}

// maxAttrs bounds the attributes of one span; more are dropped.
const maxAttrs = 64

// Span is one recorded operation. A nil *Span is valid and records
// nothing, so callers need not check whether a request is traced. A span
// is owned by one goroutine until End, which hands it to the exporter.
type Span struct {
	tracer  *Tracer
	Context SpanContext
	Parent  SpanID
	Name    string
	Kind    Kind
	Start   time.Time
	End     time.Time
	Status  Status
	// StatusMessage describes an error status.
	StatusMessage string
	Attrs         []Attr
	attrs         [16]Attr // Attrs' first backing array
	attempts      atomic.Int32
}

var spanPool = sync.Pool{New: func() any { return new(Span) }}

func newSpan(t *Tracer, ctx SpanContext, parent SpanID, name string, kind Kind) *Span {
	s := spanPool.Get().(*Span)
	s.tracer, s.Context, s.Parent, s.Name, s.Kind = t, ctx, parent, name, kind
	s.Start = time.Now()
	s.Attrs = s.attrs[:0]
	return s
}

func (s *Span) release() {
	*s = Span{}
	spanPool.Put(s)
}

// Child starts a span of the same trace whose parent is s.
func (s *Span) Child(name string, kind Kind) *Span {
	if s == nil {
		return nil
	}
	c := s.Context
	c.SpanID = newSpanID()
	return newSpan(s.tracer, c, s.Context.SpanID, name, kind)
}

// NextAttempt counts the calls made under s (upstream attempts) and
// returns this one's number, from 1.
func (s *Span) NextAttempt() int {
	if s == nil {
		return 1
	}
	return int(s.attempts.Add(1))
}

// SpanContext returns the context to propagate for s (zero for nil).
func (s *Span) SpanContext() SpanContext {
	if s == nil {
		return SpanContext{}
	}
	return s.Context
}

// TraceID returns the trace id in hex, or "" for nil.
func (s *Span) TraceID() string {
	if s == nil {
		return ""
	}
	return s.Context.TraceID.String()
}

// SetString adds a string attribute.
func (s *Span) SetString(key, v string) {
	if s != nil && len(s.Attrs) < maxAttrs {
		s.Attrs = append(s.Attrs, Attr{Key: key, Str: v})
	}
}

// SetInt adds an integer attribute.
func (s *Span) SetInt(key string, v int64) {
	if s != nil && len(s.Attrs) < maxAttrs {
		s.Attrs = append(s.Attrs, Attr{Key: key, Int: v, IsInt: true})
	}
}

// CopyAttr adds the value of attribute from under the key to, if s has it.
func (s *Span) CopyAttr(from, to string) {
	if s == nil {
		return
	}
	for _, a := range s.Attrs {
		if a.Key == from && len(s.Attrs) < maxAttrs {
			a.Key = to
			s.Attrs = append(s.Attrs, a)
			return
		}
	}
}

// SetError marks the span failed.
func (s *Span) SetError(msg string) {
	if s != nil {
		s.Status, s.StatusMessage = StatusError, msg
	}
}

// Finish ends the span and hands it to the exporter; s must not be used
// afterwards.
func (s *Span) Finish() {
	if s == nil {
		return
	}
	s.End = time.Now()
	s.tracer.exp.enqueue(s)
}

type spanKey struct{}

// ContextWith returns ctx carrying s; a nil s returns ctx as it is.
func ContextWith(ctx context.Context, s *Span) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, spanKey{}, s)
}

// FromContext returns the span ctx carries, or nil.
func FromContext(ctx context.Context) *Span {
	s, _ := ctx.Value(spanKey{}).(*Span)
	return s
}
