package dataplane

import (
	"net/http"
	"strconv"
	"strings"
)

// localError answers a request the proxy itself fails. gRPC clients only
// understand errors as grpc-status (an HTTP 200 with the status in the
// headers, a "trailers-only" response), so gRPC requests get the status
// code gRPC maps from the HTTP one instead of a text body.
func localError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if isGRPC(r) {
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(grpcStatus(code)))
		h.Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Error(w, msg, code)
}

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor >= 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// grpcStatus maps an HTTP status to a gRPC code, as the gRPC HTTP/2
// protocol document does for proxies.
func grpcStatus(code int) int {
	switch code {
	case http.StatusBadRequest:
		return 13 // INTERNAL
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case http.StatusNotFound:
		return 12 // UNIMPLEMENTED
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	case http.StatusGatewayTimeout:
		return 4 // DEADLINE_EXCEEDED
	default:
		return 2 // UNKNOWN
	}
}
