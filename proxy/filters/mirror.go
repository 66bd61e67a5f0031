package filters

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// MirrorBodyLimit is the largest request body that is mirrored; bigger
// bodies would have to be buffered in full, so those requests are not
// mirrored.
const MirrorBodyLimit = 64 << 10

// mirrorTimeout bounds a mirrored request so slow mirrors free their slot.
const mirrorTimeout = 10 * time.Second

// Mirror is a compiled RequestMirror filter: fire-and-forget copies of
// requests to another backend, bounded by a shared concurrency limit.
type Mirror struct {
	target  http.RoundTripper
	scheme  string
	percent int
	slots   chan struct{}
	// Dropped is called when a mirror is skipped for lack of a slot or
	// because the body is too large (for metrics); may be nil.
	Dropped func()
}

// NewMirror builds a mirror to target (a backend round tripper using
// scheme); slots is shared by all mirrors of a config and bounds their
// concurrency.
func NewMirror(target http.RoundTripper, scheme string, percent *int, slots chan struct{}) *Mirror {
	p := 100
	if percent != nil {
		p = *percent
	}
	return &Mirror{target: target, scheme: scheme, percent: p, slots: slots}
}

// Send mirrors r if it is sampled. body is the request body already read
// in full (nil when there is none): mirroring never consumes the main
// request's body.
func (m *Mirror) Send(r *http.Request, body []byte) {
	if m.percent < 100 && rand.IntN(100) >= m.percent {
		return
	}
	select {
	case m.slots <- struct{}{}:
	default:
		if m.Dropped != nil {
			m.Dropped()
		}
		return
	}
	// A fresh context: the mirror must not depend on (or delay) the main
	// exchange, and must not share its per-request state.
	ctx, cancel := context.WithTimeout(context.Background(), mirrorTimeout)
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.Scheme = m.scheme
	out.URL.Host = r.Host
	removeHopHeaders(out.Header)
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	} else {
		out.Body = nil
		out.ContentLength = 0
	}
	go func() {
		defer func() { <-m.slots }()
		defer cancel()
		resp, err := m.target.RoundTrip(out)
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) //nolint:errcheck // draining the mirror's response only lets its connection be reused
		resp.Body.Close()
	}()
}

// hopHeaders are connection-scoped (RFC 9110 §7.6.1) and never forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for _, name := range bytes.Split([]byte(f), []byte(",")) {
			if n := string(bytes.TrimSpace(name)); n != "" {
				h.Del(n)
			}
		}
	}
	for _, n := range hopHeaders {
		h.Del(n)
	}
}
