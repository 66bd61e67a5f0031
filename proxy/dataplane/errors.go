package dataplane

import (
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// localError answers a request the proxy itself fails (policy.Error: a
// text body, or the gRPC status for gRPC clients).
func localError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	policy.Error(w, r, code, msg)
}
