package tracing_test

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentgateway/agentgateway-go/proxy/tracing"
	"github.com/agentgateway/agentgateway-go/proxy/tracing/otlptest"
)

func senders(t *testing.T, r *otlptest.Receiver) map[string]tracing.Sender {
	g, err := tracing.NewGRPCSender(tracing.GRPCOptions{Address: r.GRPCAddr, Headers: []tracing.Header{{Name: "x-tenant", Value: "t1"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := tracing.NewHTTPSender(tracing.HTTPOptions{URL: "http://" + r.HTTPAddr + "/v1/traces", Headers: []tracing.Header{{Name: "x-tenant", Value: "t1"}}})
	return map[string]tracing.Sender{"grpc": g, "http": h}
}

func closeExporter(t *testing.T, e *tracing.Exporter) {
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close exporter: %v", err)
		}
	})
}

// TestExportSpanTree sends a server span and its child over each protocol
// to a real OTLP receiver and checks ids, parentage, attributes and the
// export headers.
func TestExportSpanTree(t *testing.T) {
	r := otlptest.Start(t)
	for proto, s := range senders(t, r) {
		t.Run(proto, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := tracing.NewMetrics(reg)
			exp := tracing.NewExporter(s, proto, tracing.ExporterOptions{Interval: 10 * time.Millisecond}, m)
			closeExporter(t, exp)
			tr := tracing.NewTracer(exp, tracing.Sampler{Ratio: 1}, "svc-"+proto, []tracing.Attr{{Key: "deployment.environment", Str: "test"}})
			parent, _ := tracing.ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			c, ok := tr.Decide(parent)
			if !ok {
				t.Fatal("not sampled")
			}
			srv := tr.StartServer(c, parent.SpanID, "GET")
			srv.SetString("http.request.method", "GET")
			child := srv.Child("GET", tracing.KindClient)
			child.SetInt("http.response.status_code", 503)
			child.SetError("503")
			childID := child.SpanContext().SpanID.String()
			srvID := c.SpanID.String()
			child.Finish()
			srv.Finish()
			spans := r.WaitFor(t, 10*time.Second, "both spans", func(s []otlptest.Span) bool {
				n := 0
				for _, x := range s {
					if x.Service == "svc-"+proto {
						n++
					}
				}
				return n == 2
			})
			var gotSrv, gotChild bool
			for _, x := range spans {
				if x.Service != "svc-"+proto {
					continue
				}
				if x.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
					t.Errorf("span %s trace %s", x.Name, x.TraceID)
				}
				if got := x.Headers["x-tenant"]; len(got) != 1 || got[0] != "t1" {
					t.Errorf("export headers x-tenant = %v", got)
				}
				switch x.SpanID {
				case srvID:
					gotSrv = x.ParentSpanID == "00f067aa0ba902b7" && x.Attrs["http.request.method"] == "GET"
				case childID:
					gotChild = x.ParentSpanID == srvID && x.Attrs["http.response.status_code"] == int64(503) && x.Status == 2
				}
			}
			if !gotSrv || !gotChild {
				t.Errorf("server span ok %v, child ok %v:\n%s", gotSrv, gotChild, otlptest.Describe(spans))
			}
			if err := exp.Close(); err != nil { // the counter moves after the answer
				t.Fatal(err)
			}
			if v := testutil.ToFloat64(m.Exported.WithLabelValues(proto)); v != 2 {
				t.Errorf("exported counter = %v, want 2", v)
			}
		})
	}
}

// TestExporterFullQueueDrops holds the receiver so the exporter's one
// export waits, fills its queue and checks that the overflow is dropped
// and counted without blocking.
func TestExporterFullQueueDrops(t *testing.T) {
	r := otlptest.Start(t)
	arrived, release := r.Hold()
	defer release()
	s := tracing.NewHTTPSender(tracing.HTTPOptions{URL: "http://" + r.HTTPAddr + "/v1/traces"})
	m := tracing.NewMetrics(nil)
	exp := tracing.NewExporter(s, "q", tracing.ExporterOptions{QueueSize: 4, BatchSize: 1, Interval: time.Hour}, m)
	closeExporter(t, exp)
	tr := tracing.NewTracer(exp, tracing.Sampler{Ratio: 1}, "q", nil)
	start := func() {
		c, _ := tr.Decide(tracing.SpanContext{})
		tr.StartServer(c, tracing.SpanID{}, "x").Finish()
	}
	start() // taken by the exporter, held at the receiver
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first export never reached the receiver")
	}
	begin := time.Now()
	for range 4 + 10 {
		start()
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("finishing 14 spans against a stuck collector took %v", d)
	}
	if v := testutil.ToFloat64(m.Dropped.WithLabelValues("q")); v != 10 {
		t.Errorf("dropped = %v, want 10", v)
	}
	release()
	r.WaitSpans(t, 5, 10*time.Second)
}

// TestExportErrorsCounted points an exporter at a closed port.
func TestExportErrorsCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	m := tracing.NewMetrics(nil)
	exp := tracing.NewExporter(tracing.NewHTTPSender(tracing.HTTPOptions{URL: "http://" + addr + "/v1/traces"}), "dead", tracing.ExporterOptions{BatchSize: 1}, m)
	tr := tracing.NewTracer(exp, tracing.Sampler{Ratio: 1}, "", nil)
	c, _ := tr.Decide(tracing.SpanContext{})
	tr.StartServer(c, tracing.SpanID{}, "x").Finish()
	if err := exp.Close(); err != nil {
		t.Fatal(err)
	}
	if e, d := testutil.ToFloat64(m.ExportErrors.WithLabelValues("dead")), testutil.ToFloat64(m.Dropped.WithLabelValues("dead")); e != 1 || d != 1 {
		t.Errorf("errors %v dropped %v, want 1 and 1", e, d)
	}
}
