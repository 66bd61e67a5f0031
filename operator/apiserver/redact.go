package apiserver

import (
	"regexp"
	"unicode/utf8"
)

// maxLastError bounds a proxy's rejection text in a view; the proxy's own log has all of it.
const maxLastError = 2048

var (
	pemPrivateKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
	credential    = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`)
)

// redactError removes secret material a proxy might quote when it rejects a config (the
// config it received holds private keys and credentials): PEM private keys and
// Authorization-style credentials. The translator never puts secrets in views; the rejection
// text is the one field that comes from outside it, so it is scrubbed here, whoever asks.
func redactError(s string) string {
	s = pemPrivateKey.ReplaceAllString(s, "[redacted private key]")
	s = credential.ReplaceAllString(s, "$1 [redacted]")
	if len(s) > maxLastError {
		cut := maxLastError
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
