package tracing

import (
	"encoding/hex"
	"math/rand/v2"
)

// TraceID identifies a trace; the zero value is invalid.
type TraceID [16]byte

// SpanID identifies a span; the zero value is invalid.
type SpanID [8]byte

// IsValid reports whether t is not all zeros.
func (t TraceID) IsValid() bool { return t != TraceID{} }

// IsValid reports whether s is not all zeros.
func (s SpanID) IsValid() bool { return s != SpanID{} }

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// FlagSampled is the sampled bit of the trace flags.
const FlagSampled byte = 0x01

// SpanContext is what travels between services: the W3C traceparent and
// tracestate of a span.
type SpanContext struct {
	TraceID    TraceID
	SpanID     SpanID
	Flags      byte
	TraceState string
}

// IsValid reports whether both ids are set.
func (c SpanContext) IsValid() bool { return c.TraceID.IsValid() && c.SpanID.IsValid() }

// Sampled reports whether the sampled flag is set.
func (c SpanContext) Sampled() bool { return c.Flags&FlagSampled != 0 }

// newTraceID and newSpanID draw from math/rand/v2's runtime source: a
// per-thread ChaCha8 generator, lock-free and without allocation. Span
// ids need uniqueness, not secrecy.
func newTraceID() TraceID {
	var t TraceID
	for !t.IsValid() {
		putUint64(t[:8], rand.Uint64())
		putUint64(t[8:], rand.Uint64())
	}
	return t
}

func newSpanID() SpanID {
	var s SpanID
	for !s.IsValid() {
		putUint64(s[:], rand.Uint64())
	}
	return s
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

const traceparentLen = 55 // "00-" 32 "-" 16 "-" 2

// ParseTraceparent parses a W3C traceparent header value strictly: version
// 00 must be exactly 55 characters; a higher version may carry more after
// a '-' (forward compatibility); version ff, upper-case hex, zero ids or
// any other deviation is invalid, and the caller starts a new trace.
func ParseTraceparent(v string) (SpanContext, bool) {
	var c SpanContext
	if len(v) < traceparentLen {
		return c, false
	}
	ver, ok := hexByte(v[0], v[1])
	if !ok || ver == 0xff || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return c, false
	}
	if ver == 0 && len(v) != traceparentLen {
		return c, false
	}
	if ver != 0 && len(v) > traceparentLen && v[traceparentLen] != '-' {
		return c, false
	}
	if !decodeHex(c.TraceID[:], v[3:35]) || !decodeHex(c.SpanID[:], v[36:52]) {
		return c, false
	}
	f, ok := hexByte(v[53], v[54])
	if !ok {
		return c, false
	}
	c.Flags = f
	if !c.IsValid() {
		return SpanContext{}, false
	}
	return c, true
}

// AppendTraceparent appends the version-00 traceparent of c to b.
func (c SpanContext) AppendTraceparent(b []byte) []byte {
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, c.TraceID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, c.SpanID[:])
	b = append(b, '-')
	return hex.AppendEncode(b, []byte{c.Flags & FlagSampled})
}

// Traceparent formats the version-00 traceparent of c.
func (c SpanContext) Traceparent() string {
	var buf [traceparentLen]byte
	return string(c.AppendTraceparent(buf[:0]))
}

func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		b, ok := hexByte(s[2*i], s[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

// hexByte decodes two lower-case hex digits (W3C forbids upper case).
func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexVal(hi)
	l, ok2 := hexVal(lo)
	return h<<4 | l, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// maxTracestateLen bounds a propagated tracestate; W3C asks for at least
// 512 characters to be kept.
const maxTracestateLen = 512

// ValidTracestate reports whether v is a W3C tracestate the proxy
// propagates: at most 32 comma-separated list members "key=value", keys
// of lower-case letters, digits and _-*/ (with one optional '@' for
// multi-tenant keys), values of printable ASCII without ',' and '=' and
// not ending in a space, no duplicate keys. An invalid tracestate is
// dropped (the traceparent still counts).
func ValidTracestate(v string) bool {
	if len(v) > maxTracestateLen {
		return false
	}
	members := 0
	var keys [32]string
	for rest := v; ; {
		var m string
		i := indexByte(rest, ',')
		if i < 0 {
			m, rest = rest, ""
		} else {
			m, rest = rest[:i], rest[i+1:]
		}
		m = trimOWS(m)
		if m != "" {
			eq := indexByte(m, '=')
			if eq <= 0 || !validKey(m[:eq]) || !validValue(m[eq+1:]) {
				return false
			}
			if members == len(keys) {
				return false
			}
			for _, k := range keys[:members] {
				if k == m[:eq] {
					return false
				}
			}
			keys[members] = m[:eq]
			members++
		}
		if i < 0 {
			return true
		}
	}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func validKey(k string) bool {
	if len(k) > 256 {
		return false
	}
	at := indexByte(k, '@')
	if at < 0 {
		return simpleKey(k, 256, true)
	}
	return simpleKey(k[:at], 241, true) && simpleKey(k[at+1:], 14, false)
}

// simpleKey: lcalpha then lcalpha/digit/_-*/ ; a tenant id may start
// with a digit.
func simpleKey(k string, maxLen int, alphaFirst bool) bool {
	if k == "" || len(k) > maxLen {
		return false
	}
	c := k[0]
	if !('a' <= c && c <= 'z') && (alphaFirst || !('0' <= c && c <= '9')) {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '*' || c == '/') {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	if v == "" || len(v) > 256 || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
