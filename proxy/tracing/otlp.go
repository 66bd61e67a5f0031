package tracing

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentgateway/agentgateway-go/proxy/version"
)

// resource is a tracer's OTLP resource, built once.
type resource struct {
	pb *resourcepb.Resource
}

func newResource(serviceName string, attrs []Attr) *resource {
	r := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		kv(Attr{Key: "service.name", Str: serviceName}),
		kv(Attr{Key: "telemetry.sdk.name", Str: "agentgateway"}),
		kv(Attr{Key: "telemetry.sdk.language", Str: "go"}),
	}}
	for _, a := range attrs {
		r.Attributes = append(r.Attributes, kv(a))
	}
	return &resource{pb: r}
}

func kv(a Attr) *commonpb.KeyValue {
	if a.IsInt {
		return &commonpb.KeyValue{Key: a.Key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: a.Int}}}
	}
	return &commonpb.KeyValue{Key: a.Key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: a.Str}}}
}

var scope = &commonpb.InstrumentationScope{Name: "github.com/agentgateway/agentgateway-go/proxy", Version: version.Version}

// Request converts a batch to an OTLP export request, one ResourceSpans
// per tracer resource.
func Request(batch []*Span) *collectorpb.ExportTraceServiceRequest {
	req := &collectorpb.ExportTraceServiceRequest{}
	byRes := map[*resource]*tracepb.ScopeSpans{}
	for _, s := range batch {
		ss := byRes[s.tracer.resource]
		if ss == nil {
			ss = &tracepb.ScopeSpans{Scope: scope}
			byRes[s.tracer.resource] = ss
			req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{Resource: s.tracer.resource.pb, ScopeSpans: []*tracepb.ScopeSpans{ss}})
		}
		ss.Spans = append(ss.Spans, spanPB(s))
	}
	return req
}

func spanPB(s *Span) *tracepb.Span {
	p := &tracepb.Span{
		TraceId:           append([]byte(nil), s.Context.TraceID[:]...),
		SpanId:            append([]byte(nil), s.Context.SpanID[:]...),
		TraceState:        s.Context.TraceState,
		Name:              s.Name,
		Kind:              tracepb.Span_SpanKind(s.Kind),
		StartTimeUnixNano: uint64(s.Start.UnixNano()),
		EndTimeUnixNano:   uint64(s.End.UnixNano()),
		Flags:             uint32(s.Context.Flags),
		Status:            &tracepb.Status{Code: tracepb.Status_StatusCode(s.Status), Message: s.StatusMessage},
	}
	if s.Parent.IsValid() {
		p.ParentSpanId = append([]byte(nil), s.Parent[:]...)
	}
	p.Attributes = make([]*commonpb.KeyValue, len(s.Attrs))
	for i, a := range s.Attrs {
		p.Attributes[i] = kv(a)
	}
	return p
}

// Header is one header or gRPC metadata entry sent with every export.
type Header struct{ Name, Value string }

// GRPCOptions configure an OTLP/gRPC sender.
type GRPCOptions struct {
	// Address is host:port of the collector.
	Address string
	// Dial, when set, opens the connections (for example to a picked
	// endpoint of a backend); Address is then only the authority.
	Dial func(ctx context.Context, address string) (net.Conn, error)
	// TLS, when set, secures the connection.
	TLS     *tls.Config
	Headers []Header
}

type grpcSender struct {
	conn   *grpc.ClientConn
	client collectorpb.TraceServiceClient
	md     metadata.MD
}

// NewGRPCSender returns a sender calling opentelemetry's
// TraceService/Export. It connects lazily.
func NewGRPCSender(o GRPCOptions) (Sender, error) {
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if o.Dial != nil {
		opts = append(opts, grpc.WithContextDialer(o.Dial))
	}
	conn, err := grpc.NewClient("passthrough:///"+o.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp grpc client for %s: %w", o.Address, err)
	}
	md := metadata.MD{}
	for _, h := range o.Headers {
		md.Append(h.Name, h.Value)
	}
	return &grpcSender{conn: conn, client: collectorpb.NewTraceServiceClient(conn), md: md}, nil
}

func (g *grpcSender) Send(ctx context.Context, batch []*Span) error {
	if len(g.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, g.md)
	}
	resp, err := g.client.Export(ctx, Request(batch))
	if err != nil {
		return fmt.Errorf("otlp grpc export: %w", err)
	}
	return rejected(resp)
}

func (g *grpcSender) Close() error { return g.conn.Close() }

func rejected(resp *collectorpb.ExportTraceServiceResponse) error {
	if ps := resp.GetPartialSuccess(); ps != nil && ps.RejectedSpans > 0 {
		return &RejectedError{Spans: int(ps.RejectedSpans), Message: ps.ErrorMessage}
	}
	return nil
}

// HTTPOptions configure an OTLP/HTTP (protobuf) sender.
type HTTPOptions struct {
	// URL is the collector's traces endpoint, e.g.
	// http://collector:4318/v1/traces.
	URL string
	// Transport sends the requests (nil: a default transport).
	Transport http.RoundTripper
	Headers   []Header
}

type httpSender struct {
	o      HTTPOptions
	client *http.Client
}

// NewHTTPSender returns a sender POSTing protobuf to o.URL.
func NewHTTPSender(o HTTPOptions) Sender {
	t := o.Transport
	if t == nil {
		t = &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
	}
	return &httpSender{o: o, client: &http.Client{Transport: t}}
}

// maxResponseBody bounds what is read of a collector's answer.
const maxResponseBody = 64 << 10

func (h *httpSender) Send(ctx context.Context, batch []*Span) error {
	body, err := proto.Marshal(Request(batch))
	if err != nil {
		return fmt.Errorf("otlp http: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp http: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for _, hd := range h.o.Headers {
		req.Header.Add(hd.Name, hd.Value)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp http export: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return fmt.Errorf("otlp http export: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp http export: collector answered %s", resp.Status)
	}
	var out collectorpb.ExportTraceServiceResponse
	if len(b) > 0 && resp.Header.Get("Content-Type") == "application/x-protobuf" {
		if err := proto.Unmarshal(b, &out); err != nil {
			return fmt.Errorf("otlp http export: decode answer: %w", err)
		}
	}
	return rejected(&out)
}

func (h *httpSender) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
