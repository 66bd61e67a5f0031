package router

import (
	"net"
	"sort"
	"strings"
)

// NormalizeHost turns a request Host or TLS SNI into the form hostnames are
// matched in: ASCII letters in lower case, without port and without a
// trailing dot. Other bytes are kept as they are: Unicode case mapping
// would turn the Kelvin sign (U+212A) into an ASCII "k" and so make a
// host no DNS name can be match one.
func NormalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return asciiLower(host)
		}
	}
	return host
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// WildcardMatches reports whether a Gateway API hostname pattern matches a
// normalized host. "*.example.com" matches any host with at least one
// label in front of "example.com", not "example.com" itself; "" matches
// everything.
func WildcardMatches(pattern, host string) bool {
	if pattern == "" {
		return true
	}
	if strings.HasPrefix(pattern, "*.") {
		suffix := pattern[1:] // ".example.com"
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// Intersect returns the hostname both patterns accept (the more specific
// one), and false when they accept no common host. It implements the
// Gateway API rule that a route's hostnames are narrowed by its listener's.
func Intersect(a, b string) (string, bool) {
	switch {
	case a == "":
		return b, true
	case b == "":
		return a, true
	}
	aw, bw := strings.HasPrefix(a, "*."), strings.HasPrefix(b, "*.")
	switch {
	case !aw && !bw:
		return a, a == b
	case aw && !bw:
		return b, WildcardMatches(a, b)
	case !aw && bw:
		return a, WildcardMatches(b, a)
	default:
		// Both wildcards: the longer one is the intersection if it lies
		// under the shorter one.
		if len(a) < len(b) {
			a, b = b, a
		}
		return a, strings.HasSuffix(a[1:], b[1:])
	}
}

// HostIndex maps hostname patterns to values and yields, for a host, the
// values of every matching pattern from most to least specific: the exact
// name, then wildcards from longest to shortest, then the catch-all "".
// This is the Gateway API order both for picking a listener and for route
// hostname precedence.
type HostIndex[T any] struct {
	exact     map[string]T
	wildcards []wildcard[T] // longest suffix first
	catchAll  T
	hasAll    bool
}

type wildcard[T any] struct {
	suffix string // ".example.com"
	value  T
}

// Add registers a pattern. Adding a pattern twice replaces the value.
func (h *HostIndex[T]) Add(pattern string, v T) {
	switch {
	case pattern == "":
		h.catchAll, h.hasAll = v, true
	case strings.HasPrefix(pattern, "*."):
		s := pattern[1:]
		for i := range h.wildcards {
			if h.wildcards[i].suffix == s {
				h.wildcards[i].value = v
				return
			}
		}
		h.wildcards = append(h.wildcards, wildcard[T]{s, v})
		sort.SliceStable(h.wildcards, func(i, j int) bool {
			return len(h.wildcards[i].suffix) > len(h.wildcards[j].suffix)
		})
	default:
		if h.exact == nil {
			h.exact = map[string]T{}
		}
		h.exact[pattern] = v
	}
}

// Get returns the value of an exact pattern, for building.
func (h *HostIndex[T]) Get(pattern string) (T, bool) {
	switch {
	case pattern == "":
		return h.catchAll, h.hasAll
	case strings.HasPrefix(pattern, "*."):
		for _, w := range h.wildcards {
			if w.suffix == pattern[1:] {
				return w.value, true
			}
		}
	default:
		v, ok := h.exact[pattern]
		return v, ok
	}
	var zero T
	return zero, false
}

// Lookup returns the most specific value matching host.
func (h *HostIndex[T]) Lookup(host string) (T, bool) {
	for v := range h.Matches(host) {
		return v, true
	}
	var zero T
	return zero, false
}

// Matches iterates over the values matching host, most specific first.
func (h *HostIndex[T]) Matches(host string) func(yield func(T) bool) {
	return func(yield func(T) bool) {
		if v, ok := h.exact[host]; ok {
			if !yield(v) {
				return
			}
		}
		for _, w := range h.wildcards {
			if len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
				if !yield(w.value) {
					return
				}
			}
		}
		if h.hasAll {
			yield(h.catchAll)
		}
	}
}

// MatchesNamed is Matches with the pattern each value was added under.
func (h *HostIndex[T]) MatchesNamed(host string) func(yield func(string, T) bool) {
	return func(yield func(string, T) bool) {
		if v, ok := h.exact[host]; ok {
			if !yield(host, v) {
				return
			}
		}
		for _, w := range h.wildcards {
			if len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
				if !yield("*"+w.suffix, w.value) {
					return
				}
			}
		}
		if h.hasAll {
			yield("", h.catchAll)
		}
	}
}
