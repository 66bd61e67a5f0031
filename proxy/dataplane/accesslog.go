package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// accessLog is a listener's compiled config.AccessLog. Requests on such a
// listener are served by net/http (the fast path hands the connection
// over), whose handler calls record once per request.
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

// accessEntry is what the handler knows of a finished request.
type accessEntry struct {
	bind, listener, route string
	status                int
	header                http.Header // the response's
	elapsed               time.Duration
}

// record writes the request's line unless the filter rejects it. The CEL
// variables are those the traffic policies filled (jwt, apiKey,
// extauthz), with the response and backend added.
func (al *accessLog) record(log *slog.Logger, r *http.Request, ex *exchange, e accessEntry) {
	if al == nil {
		return
	}
	act := &cel.Activation{}
	if ex.act != nil {
		*act = *ex.act
	}
	if act.Request == nil {
		act.Request = cel.RequestFromHTTP(r)
	}
	if act.Source == nil {
		act.Source = cel.SourceFromHTTP(r)
	}
	act.Response = &cel.Response{Code: e.status, Headers: e.header}
	upstream := ""
	if ex.ref != nil {
		act.Backend = ex.ref.celBackend
	}
	if ex.picked.Endpoint != nil {
		upstream = ex.picked.Endpoint.Address
	}
	// The client may be gone; the line is still written.
	ctx := context.WithoutCancel(r.Context())
	if al.filter != nil {
		if ok, err := al.filter.EvalBool(ctx, act); err != nil || !ok {
			return
		}
	}
	args := []any{"bind", e.bind, "listener", e.listener, "route", e.route,
		"method", r.Method, "host", r.Host, "path", r.URL.Path, "proto", r.Proto,
		"status", e.status, "duration", e.elapsed, "upstream", upstream, "client", r.RemoteAddr}
	if len(al.attrs) > 0 {
		attrs := make([]any, 0, len(al.attrs))
		for _, a := range al.attrs {
			v, err := a.expr.Eval(ctx, act)
			if err != nil {
				v = "error: " + err.Error()
			}
			attrs = append(attrs, slog.Any(a.name, v))
		}
		args = append(args, slog.Group("attributes", attrs...))
	}
	log.Info("access", args...)
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
