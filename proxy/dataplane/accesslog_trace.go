package dataplane

import "net/http"

// requestTraceID is the trace id of an untraced request's access-log line
// (a traced one logs its span's, exchange.traceID): the one of the
// request's W3C traceparent header, or "".
func requestTraceID(r *http.Request) string {
	v := r.Header["Traceparent"]
	if len(v) == 0 {
		return ""
	}
	return traceparentID(v[0])
}

// traceparentID returns the trace id of a traceparent value
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", or "" when it
// is malformed or the id is all zeros.
func traceparentID(v string) string {
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || v[:2] == "ff" {
		return ""
	}
	if len(v) > 55 && (v[:2] == "00" || v[55] != '-') {
		return ""
	}
	id := v[3:35]
	zero := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
		if c != '0' {
			zero = false
		}
	}
	if zero {
		return ""
	}
	return id
}
