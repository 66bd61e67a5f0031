package h1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

const (
	maxChunkLine  = 4 << 10
	maxTrailer    = 64 << 10
	maxHeadGrowth = 1 << 20
)

// ReadResponseHead reads and parses the response head from c, growing
// the buffer up to 1 MiB for very large heads.
func (c *Conn) ReadResponseHead(method string, resp *Response) error {
	for {
		res, err := ParseResponse(c.Buffered(), method, resp)
		if err != nil {
			return err
		}
		if res == Parsed {
			return nil
		}
		if err := c.FillLimit(maxHeadGrowth); err != nil {
			if errors.Is(err, ErrBufferFull) {
				return fmt.Errorf("%w: head larger than %d bytes", ErrMalformed, maxHeadGrowth)
			}
			return err
		}
	}
}

// SendBody queues n bytes of request body from src (its buffer first)
// after dst's output, writing to dst once the output buffer is full.
// Errors writing to dst are *WriteError; others are from reading src.
// Each read of src waits at most idle for bytes (within a second less,
// or an eighth of idle; 0 is no limit).
func SendBody(dst, src *Conn, n int64, idle time.Duration) error {
	if idle <= 0 {
		src.ClearReadDeadline()
	}
	for n > 0 {
		if src.r == src.w {
			if idle > 0 {
				src.ExtendReadDeadline(time.Now(), idle, min(time.Second, idle/8))
			}
			if err := src.Fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		p := src.rbuf[src.r:src.w]
		if int64(len(p)) > n {
			p = p[:n]
		}
		if err := dst.WriteBody(p); err != nil {
			return &WriteError{err}
		}
		src.Discard(len(p))
		n -= int64(len(p))
	}
	return nil
}

// RelayError tells which side failed while relaying a body.
type RelayError struct {
	Client bool // writing to the client failed; otherwise reading the backend
	Err    error
}

func (e *RelayError) Error() string {
	if e.Client {
		return "writing the response to the client: " + e.Err.Error()
	}
	return "reading the response body from the backend: " + e.Err.Error()
}

func (e *RelayError) Unwrap() error { return e.Err }

// RelayBody copies the body of resp from the backend connection src to
// the client connection dst: a Content-Length body as is, a chunked or
// close-delimited one as chunks (and the trailers of a chunked one).
// With flush, each piece is written as soon as it is read (streaming);
// otherwise output is written when the buffer fills and left pending at
// the end. A nil error means the body was read completely.
func RelayBody(dst, src *Conn, resp *Response, flush bool) error {
	switch {
	case resp.NoBody:
		return nil
	case resp.Chunked:
		return relayChunked(dst, src, flush)
	case resp.ContentLength >= 0:
		return relayLength(dst, src, resp.ContentLength, flush)
	default:
		return relayUntilClose(dst, src, flush)
	}
}

func relayLength(dst, src *Conn, n int64, flush bool) error {
	for n > 0 {
		if src.r == src.w {
			if err := src.Fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return &RelayError{Err: err}
			}
		}
		p := src.rbuf[src.r:src.w]
		if int64(len(p)) > n {
			p = p[:n]
		}
		if err := dst.WriteBody(p); err != nil {
			return &RelayError{Client: true, Err: err}
		}
		src.Discard(len(p))
		n -= int64(len(p))
		if flush {
			if err := dst.Flush(); err != nil {
				return &RelayError{Client: true, Err: err}
			}
		}
	}
	return nil
}

func relayUntilClose(dst, src *Conn, flush bool) error {
	for {
		if src.r == src.w {
			err := src.Fill()
			if err == io.EOF {
				return writeLastChunk(dst, nil)
			}
			if err != nil {
				return &RelayError{Err: err}
			}
		}
		p := src.rbuf[src.r:src.w]
		if err := writeChunk(dst, p); err != nil {
			return err
		}
		src.Discard(len(p))
		if flush {
			if err := dst.Flush(); err != nil {
				return &RelayError{Client: true, Err: err}
			}
		}
	}
}

func relayChunked(dst, src *Conn, flush bool) error {
	for {
		line, err := src.line(maxChunkLine)
		if err != nil {
			return &RelayError{Err: err}
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return &RelayError{Err: err}
		}
		if size == 0 {
			break
		}
		for size > 0 {
			if src.r == src.w {
				if err := src.Fill(); err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return &RelayError{Err: err}
				}
			}
			p := src.rbuf[src.r:src.w]
			if int64(len(p)) > size {
				p = p[:size]
			}
			if err := writeChunk(dst, p); err != nil {
				return err
			}
			src.Discard(len(p))
			size -= int64(len(p))
		}
		for src.w-src.r < 2 {
			if err := src.FillLimit(maxChunkLine); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return &RelayError{Err: err}
			}
		}
		if src.rbuf[src.r] != '\r' || src.rbuf[src.r+1] != '\n' {
			return &RelayError{Err: fmt.Errorf("%w: chunk not followed by CRLF", ErrMalformed)}
		}
		src.Discard(2)
		if flush {
			if err := dst.Flush(); err != nil {
				return &RelayError{Client: true, Err: err}
			}
		}
	}
	var trailer http.Header
	for {
		h := http.Header{}
		res, n, err := ParseTrailer(src.Buffered(), h)
		if err != nil {
			return &RelayError{Err: err}
		}
		if res == Parsed {
			src.Discard(n)
			if len(h) > 0 {
				trailer = h
			}
			break
		}
		if err := src.FillLimit(maxTrailer); err != nil {
			if errors.Is(err, ErrBufferFull) {
				err = fmt.Errorf("%w: trailer larger than %d bytes", ErrMalformed, maxTrailer)
			} else if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return &RelayError{Err: err}
		}
	}
	return writeLastChunk(dst, trailer)
}

// BufferedBody returns the body bytes of resp that c has already read
// (the data of the first chunk when chunked), without consuming them.
func BufferedBody(c *Conn, resp *Response) []byte {
	b := c.Buffered()
	switch {
	case resp.NoBody:
		return nil
	case resp.Chunked:
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		size, err := parseChunkSize(string(b[:i]))
		if err != nil {
			return nil
		}
		b = b[i+1:]
		if int64(len(b)) > size {
			b = b[:size]
		}
	case resp.ContentLength >= 0 && int64(len(b)) > resp.ContentLength:
		b = b[:resp.ContentLength]
	}
	return b
}

// line returns the next line (without its LF, with a CR before it) and
// consumes it.
func (c *Conn) line(limit int) (string, error) {
	for {
		b := c.Buffered()
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			s := string(b[:i])
			c.Discard(i + 1)
			return s, nil
		}
		if err := c.FillLimit(limit); err != nil {
			switch {
			case errors.Is(err, ErrBufferFull):
				return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, limit)
			case err == io.EOF:
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// parseChunkSize parses a chunk-size line without its LF as net/http
// does: "hex[;extension]", then optional spaces and tabs, then the CR of
// the CRLF that must end it (a bare LF or another CR is malformed, RFC
// 9112 errata 7633).
func parseChunkSize(line string) (int64, error) {
	if line == "" || line[len(line)-1] != '\r' || indexByte(line[:len(line)-1], '\r') >= 0 {
		return 0, fmt.Errorf("%w: chunk size line %q does not end in CRLF", ErrMalformed, line)
	}
	line = line[:len(line)-1]
	for line != "" && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := indexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if line == "" || len(line) > 16 {
		return 0, fmt.Errorf("%w: chunk size %q", ErrMalformed, line)
	}
	n, err := strconv.ParseUint(line, 16, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: chunk size %q", ErrMalformed, line)
	}
	return int64(n), nil
}

func writeChunk(dst *Conn, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	out := dst.Out()
	*out = strconv.AppendInt(*out, int64(len(p)), 16)
	*out = append(*out, "\r\n"...)
	if err := dst.WriteBody(p); err != nil {
		return &RelayError{Client: true, Err: err}
	}
	out = dst.Out()
	*out = append(*out, "\r\n"...)
	return nil
}

func writeLastChunk(dst *Conn, trailer http.Header) error {
	out := dst.Out()
	*out = append(*out, "0\r\n"...)
	if len(trailer) > 0 {
		*out = appendHeader(*out, trailer, &dst.keys, nil)
	}
	*out = append(*out, "\r\n"...)
	return nil
}
