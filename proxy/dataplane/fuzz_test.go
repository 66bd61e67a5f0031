package dataplane

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckChunked checks that checkChunked hands on exactly the body
// httputil.NewChunkedReader decodes, and answers 400 only for a body
// whose chunked coding is broken within the bytes it reads first.
func FuzzCheckChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"1;ext\r\na\r\n0\r\n\r\n",
		"zz\r\n",
		"5\r\nhelloXX",
		"5\nhello\r\n0\r\n\r\n",
		"",
		strings.Repeat("1\r\na\r\n", 600) + "0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(body)))
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.TransferEncoding = []string{"chunked"}
		r.ContentLength = -1
		r.Body = io.NopCloser(httputil.NewChunkedReader(bytes.NewReader(body)))
		w := httptest.NewRecorder()
		ex := &exchange{}
		if !checkChunked(w, r, ex) {
			if wantErr == nil || len(want) > firstChunkSize {
				t.Fatalf("answered %d for a body httputil reads as %d bytes, %v: %q", w.Code, len(want), wantErr, body)
			}
			if w.Code != http.StatusBadRequest || w.Header().Get("Connection") != "close" {
				t.Fatalf("bad chunked body answered %d %v", w.Code, w.Header())
			}
			return
		}
		got, err := io.ReadAll(r.Body)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Fatalf("body %q, %v; httputil %q, %v: %q", got, err, want, wantErr, body)
		}
		if ex.body == nil || ex.body.broken.Load() != (err != nil) {
			t.Fatalf("broken is %v after error %v", ex.body != nil && ex.body.broken.Load(), err)
		}
	})
}

// refCleanPath resolves dot segments and empty segments of an absolute
// path with a stack; the result keeps a trailing slash when p has one.
func refCleanPath(p string) string {
	var stack []string
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			stack = append(stack, seg)
		}
	}
	out := "/" + strings.Join(stack, "/")
	if strings.HasSuffix(p, "/") && out != "/" {
		out += "/"
	}
	return out
}

// FuzzSanitizePath checks sanitize's path normalisation against the
// stack reference above, that it is idempotent, and that a path it
// changes is re-escaped from the clean path.
func FuzzSanitizePath(f *testing.F) {
	for _, s := range []string{
		"/", "/public/../admin", "//admin", "/a/./b/", "/a/b/..", "/..", "/../../x/", "/a//b//",
		"/.hidden/x", "/a/.../b", "/%2e%2e/x", "/a/b/../../../c", "/./", "/x/..//y",
	} {
		f.Add(s, "/raw")
	}
	f.Fuzz(func(t *testing.T, p, raw string) {
		if !strings.HasPrefix(p, "/") {
			return // url.ParseRequestURI gives an origin-form target an absolute path
		}
		r := &http.Request{URL: &url.URL{Path: p, RawPath: raw}, Header: http.Header{}}
		sanitize(r)
		got := r.URL.Path
		if want := refCleanPath(p); got != want {
			t.Fatalf("sanitize(%q) = %q, want %q", p, got, want)
		}
		if got != p && r.URL.RawPath != "" {
			t.Fatalf("sanitize(%q) kept RawPath %q", p, r.URL.RawPath)
		}
		r2 := &http.Request{URL: &url.URL{Path: got}, Header: http.Header{}}
		sanitize(r2)
		if r2.URL.Path != got {
			t.Fatalf("sanitize is not idempotent: %q -> %q -> %q", p, got, r2.URL.Path)
		}
	})
}
