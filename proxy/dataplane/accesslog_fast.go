package dataplane

import (
	"errors"
	"net/http"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/h1"
)

// logRequest writes the access-log line of a request the fast path served.
func (fc *fastConn) logRequest(al *accessLog, r *http.Request, ex *exchange, listener, route, host, path string, code int, elapsed time.Duration) {
	if al != nil && (al.filter != nil || len(al.attrs) > 0) {
		// CEL sees the request as received, as on the net/http path.
		r.Host, r.URL.Path, r.URL.RawPath = host, path, ""
	}
	rule := ""
	if ex.rule != nil {
		rule = ex.rule.name
	}
	l := httpLine{listener: listener, route: route, rule: rule, host: host, path: path,
		status: code, header: ex.log.header, elapsed: elapsed, bytesIn: ex.log.bytesIn}
	fc.s.logRequest(al, r, ex, &l)
}

// relayFailure is the reason of a response cut short while relaying its
// body.
func relayFailure(err error, clientGone bool) string {
	var re *h1.RelayError
	switch {
	case clientGone || errors.As(err, &re) && re.Client:
		return "client_cancel"
	default:
		return "upstream_reset"
	}
}
