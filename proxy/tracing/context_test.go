package tracing

import (
	"context"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c, ok := ParseTraceparent(good)
	if !ok || c.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || c.SpanID.String() != "00f067aa0ba902b7" || !c.Sampled() {
		t.Fatalf("ParseTraceparent(%q) = %+v, %v", good, c, ok)
	}
	if got := c.Traceparent(); got != good {
		t.Errorf("Traceparent() = %q, want %q", got, good)
	}
	for _, v := range []string{
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
	} {
		if _, ok := ParseTraceparent(v); !ok {
			t.Errorf("ParseTraceparent(%q) rejected a valid value", v)
		}
	}
	for _, v := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", // version 00 with more
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  // bad flags
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // separator
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  // misplaced dash
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", // future version, no dash
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ", // trailing space
		" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // leading space
		"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // short
	} {
		if c, ok := ParseTraceparent(v); ok {
			t.Errorf("ParseTraceparent(%q) = %+v, want invalid", v, c)
		}
	}
}

func TestValidTracestate(t *testing.T) {
	for _, v := range []string{"", "congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "a@b=1, c=2 ", "t1@0vendor=x", "a=,b=1"[2:]} {
		if !ValidTracestate(v) {
			t.Errorf("ValidTracestate(%q) = false", v)
		}
	}
	many := make([]string, 33)
	for i := range many {
		many[i] = "k" + strings.Repeat("a", i) + "=v"
	}
	for _, v := range []string{"Congo=1", "a=1,a=2", "a", "=1", "a=b=c", "a=\x01", strings.Join(many, ","), "a=" + strings.Repeat("x", 600)} {
		if ValidTracestate(v) {
			t.Errorf("ValidTracestate(%q) = true", v)
		}
	}
}

func TestSampling(t *testing.T) {
	exp := NewExporter(nopSender{}, "test", ExporterOptions{}, nil)
	t.Cleanup(func() {
		if err := exp.Close(); err != nil {
			t.Error(err)
		}
	})
	sampled, _ := ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	unsampled, _ := ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	all := NewTracer(exp, Sampler{Ratio: 1}, "", nil)
	none := NewTracer(exp, Sampler{Ratio: 0}, "", nil)
	parent := NewTracer(exp, Sampler{Ratio: 0, ParentBased: true, ParentRatio: 1}, "", nil)
	if c, ok := all.Decide(SpanContext{}); !ok || !c.IsValid() || !c.Sampled() {
		t.Errorf("ratio 1 without parent: %+v %v", c, ok)
	}
	if c, ok := all.Decide(unsampled); !ok || c.TraceID != unsampled.TraceID || c.SpanID == unsampled.SpanID {
		t.Errorf("ratio 1, not parent based, unsampled parent: %+v %v: want a new span in the parent's trace", c, ok)
	}
	if _, ok := none.Decide(sampled); ok {
		t.Error("ratio 0, not parent based: sampled")
	}
	if _, ok := parent.Decide(sampled); !ok {
		t.Error("parent based, sampled parent: not sampled")
	}
	if _, ok := parent.Decide(unsampled); ok {
		t.Error("parent based, unsampled parent: sampled")
	}
	if _, ok := parent.Decide(SpanContext{}); ok {
		t.Error("parent based without parent, ratio 0: sampled")
	}
	half := NewTracer(exp, Sampler{Ratio: 0.5}, "", nil)
	n := 0
	for range 4000 {
		if _, ok := half.Decide(SpanContext{}); ok {
			n++
		}
	}
	if n < 1700 || n > 2300 {
		t.Errorf("ratio 0.5 sampled %d of 4000", n)
	}
	// Untraced requests cost nothing but the decision.
	if a := testing.AllocsPerRun(100, func() { none.Decide(sampled) }); a != 0 {
		t.Errorf("an unsampled decision allocates %v times", a)
	}
}

type nopSender struct{}

func (nopSender) Send(_ context.Context, _ []*Span) error { return nil }
func (nopSender) Close() error                            { return nil }
