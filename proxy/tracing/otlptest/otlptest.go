// Package otlptest is an OTLP trace receiver for tests: a real gRPC
// TraceService and an HTTP /v1/traces handler on loopback sockets,
// decoding the official OTLP protos and keeping every span received.
package otlptest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Span is a received span with its ids in hex and its resource's
// service.name.
type Span struct {
	TraceID, SpanID, ParentSpanID string
	Name                          string
	Kind                          tracepb.Span_SpanKind
	Service                       string
	Attrs                         map[string]any // string or int64
	Status                        tracepb.Status_StatusCode
	// Headers are the gRPC metadata or HTTP headers of the export.
	Headers map[string][]string
	Proto   *tracepb.Span
}

// Receiver collects spans exported over OTLP/gRPC (GRPCAddr) and
// OTLP/HTTP (HTTPAddr, path /v1/traces).
type Receiver struct {
	GRPCAddr string
	HTTPAddr string

	mu      sync.Mutex
	spans   []Span
	changed chan struct{} // closed and replaced on every export
	// Fail, while true, makes exports fail (HTTP 503, gRPC Unavailable).
	fail bool
	// gate, while set, holds every export until it is closed; arrived
	// receives a value when an export is held.
	gate    chan struct{}
	arrived chan struct{}

	grpc *grpc.Server
	http *http.Server
}

// Start starts a receiver on 127.0.0.1 (both protocols) and stops it at
// the end of the test.
func Start(t testing.TB) *Receiver {
	return StartOn(t, "127.0.0.1")
}

// StartOn starts a receiver on host (for example a bridge address the
// cluster reaches), on free ports.
func StartOn(t testing.TB, host string) *Receiver {
	t.Helper()
	r := &Receiver{changed: make(chan struct{})}
	gl, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("otlptest: listen grpc: %v", err)
	}
	hl, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		gl.Close()
		t.Fatalf("otlptest: listen http: %v", err)
	}
	r.GRPCAddr, r.HTTPAddr = gl.Addr().String(), hl.Addr().String()
	r.grpc = grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(r.grpc, traceService{r: r})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.serveHTTP)
	r.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	gdone, hdone := make(chan error, 1), make(chan error, 1)
	go func() { gdone <- r.grpc.Serve(gl) }()
	go func() { hdone <- r.http.Serve(hl) }()
	t.Cleanup(func() {
		r.grpc.Stop()
		if err := r.http.Close(); err != nil {
			t.Errorf("otlptest: close http: %v", err)
		}
		if err := <-gdone; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("otlptest: grpc serve: %v", err)
		}
		if err := <-hdone; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("otlptest: http serve: %v", err)
		}
	})
	return r
}

// SetFailing makes exports fail (true) or succeed again.
func (r *Receiver) SetFailing(fail bool) {
	r.mu.Lock()
	r.fail = fail
	r.mu.Unlock()
}

type traceService struct {
	collectorpb.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(ctx context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if err := s.r.add(req, md); err != nil {
		return nil, err
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "content type "+ct+" is not application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := map[string][]string{}
	for k, v := range req.Header {
		h[strings.ToLower(k)] = v
	}
	if err := r.add(&in, h); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	out, err := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out) //nolint:errcheck // the exporter sees a broken answer itself
}

// Hold makes exports wait until release is called; arrived receives a
// value for each export that waits.
func (r *Receiver) Hold() (arrived <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gate, a := make(chan struct{}), make(chan struct{}, 16)
	r.gate, r.arrived = gate, a
	var once sync.Once
	return a, func() {
		once.Do(func() {
			r.mu.Lock()
			r.gate = nil
			r.mu.Unlock()
			close(gate)
		})
	}
}

func (r *Receiver) add(req *collectorpb.ExportTraceServiceRequest, headers map[string][]string) error {
	r.mu.Lock()
	if gate := r.gate; gate != nil {
		select {
		case r.arrived <- struct{}{}:
		default:
		}
		r.mu.Unlock()
		<-gate
		r.mu.Lock()
	}
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("otlptest: receiver set to fail")
	}
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				s := Span{TraceID: hex.EncodeToString(sp.TraceId), SpanID: hex.EncodeToString(sp.SpanId),
					ParentSpanID: hex.EncodeToString(sp.ParentSpanId), Name: sp.Name, Kind: sp.Kind,
					Service: service, Attrs: map[string]any{}, Status: sp.GetStatus().GetCode(), Headers: headers, Proto: sp}
				for _, a := range sp.Attributes {
					switch v := a.GetValue().GetValue().(type) {
					case *commonpb.AnyValue_StringValue:
						s.Attrs[a.Key] = v.StringValue
					case *commonpb.AnyValue_IntValue:
						s.Attrs[a.Key] = v.IntValue
					default:
						s.Attrs[a.Key] = a.GetValue().String()
					}
				}
				r.spans = append(r.spans, s)
			}
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitFor waits until cond holds for the received spans, or fails the
// test after timeout, and returns the spans.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Span) bool) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans := append([]Span(nil), r.spans...)
		ch := r.changed
		r.mu.Unlock()
		if cond(spans) {
			return spans
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("otlptest: waited %v for %s; received %d spans:\n%s", timeout, what, len(spans), Describe(spans))
			return nil
		}
	}
}

// WaitSpans waits for at least n spans.
func (r *Receiver) WaitSpans(t testing.TB, n int, timeout time.Duration) []Span {
	t.Helper()
	return r.WaitFor(t, timeout, fmt.Sprintf("%d spans", n), func(s []Span) bool { return len(s) >= n })
}

// Describe lists spans one a line, for failure messages.
func Describe(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %s trace=%s span=%s parent=%s service=%s attrs=%v\n", s.Kind, s.Name, s.TraceID, s.SpanID, s.ParentSpanID, s.Service, s.Attrs)
	}
	return b.String()
}
