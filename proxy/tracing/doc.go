// Package tracing records the proxy's spans and exports them over OTLP.
//
// A listener with tracing compiles a Tracer: a sampler (ratio, parent
// based, with an optional CEL condition the data plane evaluates) and an
// Exporter. The data plane extracts the client's W3C trace context
// (ParseTraceparent, ValidTracestate), starts a server span per sampled
// request, a client span per upstream attempt and per ext-auth call, and
// injects the attempt's context into the backend request (Traceparent).
//
// Finished spans go to the exporter's bounded queue: when it is full the
// span is dropped and counted, so the request path never waits for the
// collector. A goroutine per exporter batches spans by size and interval
// and sends them as OTLP protobuf over gRPC (TraceService/Export) or HTTP
// (POST /v1/traces). Requests that are not sampled allocate nothing here.
//
// The package imports no Kubernetes code; its messages are the official
// OTLP protos (go.opentelemetry.io/proto/otlp).
package tracing
