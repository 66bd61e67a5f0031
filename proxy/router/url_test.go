package router

import "net/url"

// urlT builds a *url.URL from raw fuzz input without parsing, so the fuzzer
// can produce paths a parser would reject.
type urlT struct{ Path, RawQuery string }

func (u urlT) u() *url.URL { return &url.URL{Path: u.Path, RawQuery: u.RawQuery} }
