package h1

import (
	"bytes"
	"net/http"
	"testing"
)

// appendHeader writes what http.Header.Write writes: names sorted, CR and LF in values
// turned into spaces, values trimmed, names that are not tokens dropped.
func TestAppendHeaderMatchesNetHTTP(t *testing.T) {
	for _, h := range []http.Header{
		{},
		{"B": {"2"}, "A": {"1"}, "C": {"3", "4"}},
		{"X-Trim": {"  spaced\t", "\t"}, "X-Empty": {""}},
		{"X-Crlf": {"a\r\nb", "c\n", "\rd", " e \r\n"}},
		{"Bad Name": {"x"}, "Bad\r\nName": {"y"}, "Good": {"z"}, "": {"w"}},
		{"X-Obs": {"caf\xc3\xa9", "\x80\xff"}, "X-Tab": {"a\tb"}},
	} {
		var want bytes.Buffer
		if err := h.Write(&want); err != nil {
			t.Fatal(err)
		}
		var fs []field
		got := appendHeader(nil, h, &fs, nil)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendHeader(%q) =\n%q\nnet/http writes\n%q", h, got, want.Bytes())
		}
		// The scratch slice is kept for reuse and holds no references afterwards.
		if len(fs) != 0 {
			t.Errorf("scratch has %d fields left", len(fs))
		}
		for _, f := range fs[:cap(fs)] {
			if f.name != "" || f.values != nil {
				t.Errorf("scratch not cleared: %v", fs[:cap(fs)])
				break
			}
		}
	}
}

func TestAppendHeaderExcludes(t *testing.T) {
	h := http.Header{"Keep": {"1"}, "Drop": {"2"}}
	var fs []field
	got := string(appendHeader(nil, h, &fs, func(k string) bool { return k == "Drop" }))
	if got != "Keep: 1\r\n" {
		t.Errorf("got %q", got)
	}
}
