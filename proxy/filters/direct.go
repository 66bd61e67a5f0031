package filters

import (
	"net/http"
	"strconv"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// DirectResponse is a compiled DirectResponse filter.
type DirectResponse struct {
	status int
	body   []byte
}

// NewDirectResponse compiles c.
func NewDirectResponse(c *config.DirectResponse) *DirectResponse {
	return &DirectResponse{status: c.StatusCode, body: []byte(c.Body)}
}

// Serve writes the fixed response.
func (d *DirectResponse) Serve(w http.ResponseWriter) {
	h := w.Header()
	if len(d.body) > 0 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(d.body)))
	w.WriteHeader(d.status)
	w.Write(d.body)
}
