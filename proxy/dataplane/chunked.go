package dataplane

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// firstChunkSize is how much of a chunked request body is read before
// the request is routed.
const firstChunkSize = 2048

// checkedBody is a chunked HTTP/1.1 request body whose first read was
// done before any gateway processing, so that a body whose first chunk
// is malformed is answered with 400 before the request goes anywhere
// (net/http would otherwise start the backend request and fail it
// halfway, a truncated request upstream and a 502 to the client). A
// malformed chunk further on is recorded, so that the backend request it
// aborts is answered with 400 instead of 502 (see badBody).
type checkedBody struct {
	io.ReadCloser
	pre    []byte
	preErr error // what the first read returned after pre
	broken atomic.Bool
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if len(b.pre) > 0 {
		n := copy(p, b.pre)
		b.pre = b.pre[n:]
		return n, nil
	}
	if b.preErr != nil {
		return 0, b.preErr
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.broken.Store(true)
	}
	return n, err
}

// checkChunked reads the start of a chunked HTTP/1.x request body. It
// answers 400 and returns false when the chunked framing is already
// broken there; otherwise the request's body replays what was read.
func checkChunked(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	if r.ProtoMajor != 1 || len(r.TransferEncoding) == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	buf := make([]byte, firstChunkSize)
	var n int
	var err error
	for tries := 0; n == 0 && err == nil && tries < 3; tries++ {
		n, err = r.Body.Read(buf)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		badBody(w, r)
		return false
	}
	b := &checkedBody{ReadCloser: r.Body, pre: buf[:n], preErr: err}
	r.Body = b
	ex.body = b
	return true
}

// badBody answers a request whose body is not valid chunked coding, as
// nginx does, and closes the connection: where the next request would
// start is unknown.
func badBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	localError(w, r, http.StatusBadRequest, "invalid chunked request body")
}
