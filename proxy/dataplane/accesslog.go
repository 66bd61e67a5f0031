package dataplane

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// Access logs: one JSON line per HTTP request and per TCP, TLS or UDP
// session, written to Options.AccessLogOutput by a logWriter
// (accesslog_writer.go). Lines are written for every request when
// Options.AccessLog is set, and for the requests of a listener with a
// policy access log (config.Listener.AccessLog) whose filter accepts
// them; such a listener's lines carry its CEL attributes. Both the
// net/http handler and the fast path fill the same record; the fields
// are listed in proxy/README.md.

// accessLog is a listener's compiled config.AccessLog.
type accessLog struct {
	filter *cel.Program
	attrs  []accessAttr
}

type accessAttr struct {
	name string
	expr *cel.Program
}

func newAccessLog(c *config.AccessLog) (*accessLog, error) {
	if c == nil {
		return nil, nil
	}
	al := &accessLog{}
	if c.Filter != "" {
		p, err := cel.Compile(cel.PhaseAccessLog, cel.KindCondition, c.Filter)
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		al.filter = p
	}
	for _, a := range c.Attributes {
		p, err := cel.Compile(cel.PhaseAccessLog, cel.KindAny, a.Expression)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		al.attrs = append(al.attrs, accessAttr{name: a.Name, expr: p})
	}
	return al, nil
}

// accessState is what a request's line needs beyond the request and the
// exchange. It lives in the exchange; the handler and the fast path fill
// it as the request goes.
type accessState struct {
	start time.Time
	// upstreamStart is when the first try was sent to a backend;
	// upstream is from then to the response head (or the failure),
	// over all tries.
	upstreamStart time.Time
	upstream      time.Duration
	// ttfb is from start to the response head being written to the
	// client.
	ttfb    time.Duration
	retries int
	// reason says why the proxy answered itself or the exchange failed
	// (no_route, connect, timeout, ...); empty for a backend's answer.
	reason   string
	bytesOut int64       // response body bytes written to the client
	bytesIn  int64       // request body bytes sent (fast path)
	body     countedBody // the request body, counted (net/http path)
	header   http.Header // the response head, for CEL (fast path)
}

// countedBody counts the request body bytes the handler reads.
type countedBody struct {
	io.ReadCloser
	n int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// countBody makes r's body counted into ex (the net/http path).
func (ex *exchange) countBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	ex.log.body.ReadCloser = r.Body
	r.Body = &ex.log.body
}

// upstreamDone records the end of the upstream exchange (response head
// or failure).
func (ex *exchange) upstreamDone() {
	if !ex.log.upstreamStart.IsZero() && ex.log.upstream == 0 {
		ex.log.upstream = time.Since(ex.log.upstreamStart)
	}
}

// httpLine is what the caller knows of a finished request besides the
// exchange.
type httpLine struct {
	listener, route, rule string
	// host and path as received (after sanitizing), before rewrites.
	host, path string
	status     int
	header     http.Header // the response head, for CEL
	elapsed    time.Duration
	bytesIn    int64
}

// logRequest writes the request's line when access logs are on for it:
// globally (Options.AccessLog) or by the listener's policy al, whose
// filter may reject it. CEL runs only when al has a filter or
// attributes.
func (s *server) logRequest(al *accessLog, r *http.Request, ex *exchange, l *httpLine) {
	rt := s.rt
	if al == nil && !rt.opts.AccessLog {
		return
	}
	var act *cel.Activation
	var ctx context.Context
	if al != nil && (al.filter != nil || len(al.attrs) > 0) {
		act = &cel.Activation{}
		if ex.act != nil {
			*act = *ex.act
		}
		if act.Request == nil {
			act.Request = cel.RequestFromHTTP(r)
		}
		if act.Source == nil {
			act.Source = cel.SourceFromHTTP(r)
		}
		act.Response = &cel.Response{Code: l.status, Headers: l.header}
		if ex.ref != nil {
			act.Backend = ex.ref.celBackend
		}
		// The client may be gone; the line is still written.
		ctx = context.WithoutCancel(r.Context())
		if al.filter != nil {
			if ok, err := al.filter.EvalBool(ctx, act); err != nil || !ok {
				return
			}
		}
	}
	lp := getLine()
	b := appendLineStart(*lp, ex.log.start, "http", s.name, rt.opts.Gateway, l.listener)
	b = appendStringField(b, "route", l.route)
	if l.rule != "" {
		b = appendStringField(b, "rule", l.rule)
	}
	b = appendStringField(b, "client", r.RemoteAddr)
	b = appendStringField(b, "protocol", r.Proto)
	b = appendStringField(b, "method", r.Method)
	b = appendStringField(b, "authority", l.host)
	b = appendStringField(b, "path", l.path)
	b = appendIntField(b, "status", int64(l.status))
	if ex.log.reason != "" {
		b = appendStringField(b, "reason", ex.log.reason)
	}
	if ex.ref != nil && ex.ref.backend != nil {
		b = appendStringField(b, "backend", ex.ref.backend.Name)
	}
	if ex.picked.Endpoint != nil {
		b = appendStringField(b, "upstream", ex.picked.Endpoint.Address)
	}
	b = appendIntField(b, "bytes_received", l.bytesIn)
	b = appendIntField(b, "bytes_sent", ex.log.bytesOut)
	b = appendMillisField(b, "duration_ms", l.elapsed)
	if ex.log.upstream > 0 {
		b = appendMillisField(b, "upstream_ms", ex.log.upstream)
	}
	if ex.log.ttfb > 0 {
		b = appendMillisField(b, "ttfb_ms", ex.log.ttfb)
	}
	b = appendIntField(b, "retries", int64(ex.log.retries))
	if id := cmp.Or(ex.traceID(), requestTraceID(r)); id != "" {
		b = appendStringField(b, "trace_id", id)
	}
	if act != nil && len(al.attrs) > 0 {
		b = append(b, `,"attributes":{`...)
		for i, a := range al.attrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a.name)
			b = append(b, ':')
			v, err := a.expr.Eval(ctx, act)
			if err != nil {
				v = "error: " + err.Error()
			}
			b = appendJSONValue(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, '}', '\n')
	*lp = b
	rt.accessOut.send(lp)
}

// appendLineStart opens a line with the fields every line has.
func appendLineStart(b []byte, start time.Time, kind, bind, gateway, listener string) []byte {
	b = append(b, `{"time":"`...)
	b = start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, '"')
	b = appendStringField(b, "kind", kind)
	if gateway != "" {
		b = appendStringField(b, "gateway", gateway)
	}
	b = appendStringField(b, "bind", bind)
	return appendStringField(b, "listener", listener)
}

// appendJSONValue appends a CEL result as JSON; what encoding/json cannot
// encode is logged as its text.
func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendJSONString(b, x)
	case []byte:
		return appendJSONString(b, string(x))
	}
	j, err := json.Marshal(v)
	if err != nil {
		return appendJSONString(b, fmt.Sprint(v))
	}
	return append(b, j...)
}

// celProtocol names a backend protocol as the backend CEL variable does.
func celProtocol(p config.BackendProtocol) string {
	switch p {
	case config.BackendH2, config.BackendH2C:
		return "http2"
	case config.BackendTCP:
		return "tcp"
	}
	return "http"
}
