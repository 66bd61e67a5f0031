package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	var req Request
	raw := "POST /a/b?c=d HTTP/1.1\r\nHost: Example.COM:8080\r\naccept: x\r\nACCEPT: y\r\nX-Custom-header:  v  \r\nContent-Length: 3\r\nConnection: keep-alive, close\r\nPragma: no-cache\r\n\r\nabc"
	if res := ParseRequest([]byte(raw), &req); res != Parsed {
		t.Fatalf("result %v", res)
	}
	want := http.Header{
		"Accept":          {"x", "y"},
		"X-Custom-Header": {"v"},
		"Content-Length":  {"3"},
		"Connection":      {"keep-alive, close"},
		"Pragma":          {"no-cache"},
		"Cache-Control":   {"no-cache"},
	}
	if req.Method != "POST" || req.Target != "/a/b?c=d" || req.Host != "Example.COM:8080" || req.ContentLength != 3 || !req.Close || req.Len != len(raw)-3 {
		t.Errorf("parsed %+v", req)
	}
	if !reflect.DeepEqual(req.Header, want) {
		t.Errorf("header %v, want %v", req.Header, want)
	}
	// The header map is reused and reset.
	if res := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), &req); res != Parsed || len(req.Header) != 0 || req.Close || req.ContentLength != 0 {
		t.Errorf("second parse: %v %+v", res, req)
	}
}

func TestParseRequestIncompleteAndUnsupported(t *testing.T) {
	for _, raw := range []string{
		"",
		"GET / HTTP/1.1\r\nHost: h\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r",
		"GET /long/path/without/end",
	} {
		var req Request
		if res := ParseRequest([]byte(raw), &req); res != Incomplete {
			t.Errorf("%q: %v, want Incomplete", raw, res)
		}
	}
	for name, raw := range map[string]string{
		"http/1.0":             "GET / HTTP/1.0\r\nHost: h\r\n\r\n",
		"h2 preface":           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"absolute form":        "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
		"asterisk":             "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"connect":              "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		"no host":              "GET / HTTP/1.1\r\n\r\n",
		"two hosts":            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"empty host":           "GET / HTTP/1.1\r\nHost: \r\n\r\n",
		"odd host":             "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"host with userinfo":   "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n",
		"transfer-encoding":    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two lengths":          "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
		"signed length":        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na",
		"length list":          "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\na",
		"huge length":          "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999999999999999\r\n\r\n",
		"expect":               "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		"upgrade":              "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"connection upgrade":   "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n",
		"space before colon":   "GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n",
		"space in name":        "GET / HTTP/1.1\r\nHost: h\r\nX A: 1\r\n\r\n",
		"obs-fold":             "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n",
		"no colon":             "GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n",
		"empty name":           "GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n",
		"control in value":     "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n",
		"del in value":         "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n",
		"bare cr in value":     "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
		"bare lf line ends":    "GET / HTTP/1.1\nHost: h\n\n",
		"bare lf inside":       "GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n",
		"bare lf, no end yet":  "GET / HTTP/1.1\nHost: h\n",
		"bad method":           "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
		"bad escape at end":    "0 /0% HTTP/1.1\r\nHost: h\r\n\r\n",
		"bad escape":           "GET /a%zzb HTTP/1.1\r\nHost: h\r\n\r\n",
		"short escape":         "GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n",
		"space in target":      "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
		"non-ascii target":     "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
		"extra space":          "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
		"lower-case version":   "GET / http/1.1\r\nHost: h\r\n\r\n",
		"bad first line early": "GARBAGE\r\n",
	} {
		var req Request
		if res := ParseRequest([]byte(raw), &req); res != Unsupported {
			t.Errorf("%s: %v, want Unsupported", name, res)
		}
	}
}

func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"content-type":           "Content-Type",
		"X-FOO-bar":              "X-Foo-Bar",
		"Accept":                 "Accept",
		"x":                      "X",
		"a-":                     "A-",
		"-a":                     "-A",
		"x_y":                    "X_y",
		strings.Repeat("ab", 40): textprotoCanonical(strings.Repeat("ab", 40)),
	} {
		if got := canonicalKey(in); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", in, got, want)
		}
		if got, std := canonicalKey(in), http.CanonicalHeaderKey(in); got != std {
			t.Errorf("canonicalKey(%q) = %q, net/http says %q", in, got, std)
		}
	}
}

func textprotoCanonical(s string) string { return http.CanonicalHeaderKey(s) }

// FuzzParseRequest checks that whatever ParseRequest accepts, net/http
// accepts too and reads the same way.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /x?y HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\nA: b\r\na: c\r\n\r\nhi",
		"GET /%41 HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\nPragma: no-cache\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		if ParseRequest(b, &req) != Parsed {
			return
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("accepted what net/http rejects (%v): %q", err, b)
		}
		stdHeader := std.Header.Clone()
		delete(stdHeader, "Host")
		if std.Method != req.Method || std.RequestURI != req.Target || std.Host != req.Host || std.ContentLength != req.ContentLength || std.Close != req.Close {
			t.Fatalf("read differently from net/http: %q\nours %+v\nstd %s %s %s %d %v", b, req, std.Method, std.RequestURI, std.Host, std.ContentLength, std.Close)
		}
		if len(stdHeader) != len(req.Header) {
			t.Fatalf("headers differ: ours %v std %v", req.Header, stdHeader)
		}
		for k, v := range stdHeader {
			if !reflect.DeepEqual(v, req.Header[k]) {
				t.Fatalf("header %s: ours %q std %q", k, req.Header[k], v)
			}
		}
	})
}
