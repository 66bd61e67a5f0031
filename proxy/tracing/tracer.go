package tracing

import (
	"encoding/binary"
	"math"
)

// Sampler decides which requests are traced.
type Sampler struct {
	// Ratio of the traces sampled (0..1) when the request has no parent
	// or ParentBased is false.
	Ratio float64
	// ParentBased follows the sampled flag of a valid incoming
	// traceparent, downsampled by ParentRatio (0..1).
	ParentBased bool
	ParentRatio float64
}

// threshold maps a ratio to a bound on the trace id's low 63 bits, as
// OpenTelemetry's TraceIDRatioBased sampler does, so that every proxy
// with the same ratio decides the same for a trace.
func threshold(ratio float64) uint64 {
	switch {
	case ratio >= 1:
		return math.MaxUint64
	case ratio <= 0:
		return 0
	}
	return uint64(ratio * (1 << 63))
}

func sampledBy(t TraceID, bound uint64) bool {
	if bound == math.MaxUint64 {
		return true
	}
	return binary.BigEndian.Uint64(t[8:])>>1 < bound
}

// Tracer starts the spans of one listener and sends them to its exporter.
type Tracer struct {
	exp         *Exporter
	resource    *resource
	ratio       uint64
	parentBased bool
	parentRatio uint64
}

// NewTracer returns a tracer exporting to exp whose spans carry the
// resource attributes service.name and attrs.
func NewTracer(exp *Exporter, s Sampler, serviceName string, attrs []Attr) *Tracer {
	if serviceName == "" {
		serviceName = "agentgateway"
	}
	return &Tracer{exp: exp, resource: newResource(serviceName, attrs),
		ratio: threshold(s.Ratio), parentBased: s.ParentBased, parentRatio: threshold(s.ParentRatio)}
}

// Decide returns the context of the request's server span when it is
// sampled: the parent's trace (parent may be invalid: a new trace) with a
// new span id. ok is false when the request is not traced.
func (t *Tracer) Decide(parent SpanContext) (c SpanContext, ok bool) {
	if parent.IsValid() {
		c = parent
	} else {
		c.TraceID = newTraceID()
	}
	if t.parentBased && parent.IsValid() {
		ok = parent.Sampled() && sampledBy(c.TraceID, t.parentRatio)
	} else {
		ok = sampledBy(c.TraceID, t.ratio)
	}
	if !ok {
		return SpanContext{}, false
	}
	c.SpanID = newSpanID()
	c.Flags |= FlagSampled
	return c, true
}

// StartServer starts the server span of a sampled request; c comes from
// Decide and parent is the client's span id (zero for a new trace).
func (t *Tracer) StartServer(c SpanContext, parent SpanID, name string) *Span {
	return newSpan(t, c, parent, name, KindServer)
}
