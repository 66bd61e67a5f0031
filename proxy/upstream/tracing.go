package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/agentgateway/agentgateway-go/proxy/tracing"
)

// tracedRoundTrip sends a traced request: one client span per call (a
// retried request makes several, numbered by http.request.resend_count),
// whose context the backend receives in traceparent. The span ends when
// the response head arrives or the attempt fails.
func (b *Backend) tracedRoundTrip(req *http.Request, parent *tracing.Span) (*http.Response, error) {
	n := parent.NextAttempt()
	sp := parent.Child(req.Method, tracing.KindClient)
	sc := sp.SpanContext()
	// req is this exchange's outgoing request (the reverse proxy's copy,
	// or the retrier's clone), never the client's.
	req.Header.Set("traceparent", sc.Traceparent())
	if sc.TraceState != "" {
		req.Header.Set("tracestate", sc.TraceState)
	} else {
		req.Header.Del("tracestate")
	}
	sp.SetString("http.request.method", req.Method)
	sp.SetString("url.path", req.URL.Path)
	sp.SetString("agentgateway.backend", b.Name)
	if n > 1 {
		sp.SetInt("http.request.resend_count", int64(n-1))
	}
	resp, err := b.send(req)
	if p, _ := req.Context().Value(pickKey{}).(*Picked); p != nil && p.Endpoint != nil {
		if host, port, perr := net.SplitHostPort(p.Endpoint.Address); perr == nil {
			sp.SetString("server.address", host)
			if pn, aerr := strconv.Atoi(port); aerr == nil {
				sp.SetInt("server.port", int64(pn))
			}
		}
	}
	switch {
	case err != nil:
		sp.SetString("error.type", errorType(err))
		sp.SetError(err.Error())
	default:
		sp.SetInt("http.response.status_code", int64(resp.StatusCode))
		if resp.StatusCode >= 400 {
			sp.SetString("error.type", strconv.Itoa(resp.StatusCode))
			sp.SetError("")
		}
	}
	sp.Finish()
	return resp, err
}

func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrNoEndpoints):
		return "no_endpoints"
	}
	return "connect"
}
