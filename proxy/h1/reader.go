package h1

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// BodyReader reads a response body from a backend connection, undoing
// its framing, for callers that want an io.Reader (http.Response.Body)
// rather than RelayBody.
type BodyReader struct {
	c       *Conn
	left    int64 // bytes left in the body (length) or the chunk (chunked)
	chunked bool
	close   bool // ends when the backend closes
	done    bool
	err     error
	// Trailer receives the trailer fields of a chunked body.
	Trailer http.Header
}

// NewBodyReader reads the body of resp, whose head has been consumed.
func NewBodyReader(c *Conn, resp *Response) *BodyReader {
	r := &BodyReader{c: c}
	switch {
	case resp.NoBody:
		r.done = true
	case resp.Chunked:
		r.chunked = true
	case resp.ContentLength >= 0:
		r.left = resp.ContentLength
		r.done = r.left == 0
	default:
		r.close = true
	}
	return r
}

// Done reports whether the body has been read to its end.
func (r *BodyReader) Done() bool { return r.done && r.err == nil }

func (r *BodyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.read(p)
	if err != nil {
		if err == io.EOF && !r.close {
			err = io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			r.done = true
		} else {
			r.err = err
		}
	}
	if r.done && n > 0 {
		return n, nil
	}
	if r.done {
		return 0, io.EOF
	}
	return n, r.err
}

func (r *BodyReader) read(p []byte) (int, error) {
	c := r.c
	if r.chunked && r.left == 0 {
		line, err := c.line(maxChunkLine)
		if err != nil {
			return 0, err
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if err := r.readTrailer(); err != nil {
				return 0, err
			}
			r.done = true
			return 0, nil
		}
		r.left = size
	}
	if c.r == c.w {
		if err := c.Fill(); err != nil {
			return 0, err
		}
	}
	b := c.rbuf[c.r:c.w]
	if !r.close && int64(len(b)) > r.left {
		b = b[:r.left]
	}
	n := copy(p, b)
	c.Discard(n)
	if r.close {
		return n, nil
	}
	r.left -= int64(n)
	if r.left > 0 {
		return n, nil
	}
	if !r.chunked {
		r.done = true
		return n, nil
	}
	// The CRLF after the chunk data.
	for c.w-c.r < 2 {
		if err := c.FillLimit(maxChunkLine); err != nil {
			return n, err
		}
	}
	if c.rbuf[c.r] != '\r' || c.rbuf[c.r+1] != '\n' {
		return n, fmt.Errorf("%w: chunk not followed by CRLF", ErrMalformed)
	}
	c.Discard(2)
	return n, nil
}

func (r *BodyReader) readTrailer() error {
	for {
		h := http.Header{}
		res, n, err := ParseTrailer(r.c.Buffered(), h)
		if err != nil {
			return err
		}
		if res == Parsed {
			r.c.Discard(n)
			if len(h) > 0 {
				if r.Trailer == nil {
					r.Trailer = http.Header{}
				}
				for k, v := range h {
					r.Trailer[k] = v
				}
			}
			return nil
		}
		if err := r.c.FillLimit(maxTrailer); err != nil {
			if errors.Is(err, ErrBufferFull) {
				return fmt.Errorf("%w: trailer larger than %d bytes", ErrMalformed, maxTrailer)
			}
			return err
		}
	}
}
