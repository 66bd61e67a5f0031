package dataplane

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// exchange is the per-request state shared by the handler, the reverse
// proxy callbacks and the response writer. One is allocated per request.
type exchange struct {
	w      responseWriter
	rule   *ruleHandler
	ref    *refHandler
	prefix string // PathPrefix matched, for ReplacePrefixMatch
	origin string // CORS Origin of the request
	picked upstream.Picked
	// sessionValid is true when the client's session names a backend of
	// the rule; session.reissue still sends a new token when the endpoint
	// it names no longer serves.
	sessionValid bool
	reqCtx       context.Context // the request-timeout context, to tell 504 from 502
	act          *cel.Activation // CEL variables, when the rule has traffic policies
	body         *checkedBody    // a chunked HTTP/1.x request body (chunked.go)
	// span is the server span of a traced request, until it ends;
	// tracer is its listener's tracing and trace its trace id (tracing.go).
	span   *tracing.Span
	tracer *listenerTracing
	trace  tracing.TraceID
	log    accessState // for the access-log line (accesslog.go)
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// responseWriter records the status code and runs the response-side
// filters right before the header is written, whoever writes it (the
// reverse proxy, a redirect, an error). It unwraps for
// http.ResponseController so flushing and hijacking (WebSocket) still work.
type responseWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	ex          *exchange
	// closeUnlessSwitching closes the connection after any final
	// response but 101 (see upgrading in framing.go).
	closeUnlessSwitching bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.wroteHeader = true
		w.code = code
		if w.closeUnlessSwitching && code != http.StatusSwitchingProtocols {
			w.ResponseWriter.Header().Set("Connection", "close")
		}
		if w.ex != nil {
			w.ex.log.ttfb = time.Since(w.ex.log.start)
			w.ex.beforeHeader(w.ResponseWriter.Header(), code)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	if w.ex != nil {
		w.ex.log.bytesOut += int64(n)
	}
	return n, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush is implemented directly because some callers still type-assert
// http.Flusher instead of using http.ResponseController.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // http.Flusher has no error to return; a failed write shows on the next Write
}

// Hijack is implemented for the same reason as Flush.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *responseWriter) status() int {
	if w.code == 0 {
		// The handler wrote nothing: net/http will send 200.
		return http.StatusOK
	}
	return w.code
}

// beforeHeader applies response filters: rule then backendRef header
// modifiers, CORS and the session-persistence cookie.
func (ex *exchange) beforeHeader(h http.Header, _ int) {
	r := ex.rule
	if r == nil {
		return
	}
	r.respMod.Apply(h)
	if ex.ref != nil {
		ex.ref.respMod.Apply(h)
	}
	if r.cors != nil && ex.origin != "" {
		r.cors.Decorate(h, ex.origin)
	}
	if r.session != nil && r.session.reissue(ex) {
		r.session.set(h, ex.ref.backend.Name, ex.picked.Endpoint.Address)
	}
}
