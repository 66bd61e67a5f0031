package explain

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ParseQuery reads a request description from query parameters, as the
// proxy's /debug/explain and the aggregated API's explain subresource take
// it: method, host, path (with its own query, escaped), port, sni, and
// header=Name:Value, repeated.
func ParseQuery(q url.Values) (Request, error) {
	req := Request{Method: q.Get("method"), Host: q.Get("host"), Path: q.Get("path"), SNI: q.Get("sni"), Header: http.Header{}}
	if p := q.Get("port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return req, errors.New("port must be 1-65535")
		}
		req.Port = n
	}
	for _, h := range q["header"] {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return req, errors.New("header must be Name:Value, got " + strconv.Quote(h))
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}
