package dataplane

import (
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/l4"
)

// sessionLog returns what writes the access-log line of each TCP, TLS or
// UDP session of the bind, or nil when access logs are off.
func (s *server) sessionLog(p config.Protocol) func(*l4.Session) {
	if !s.rt.opts.AccessLog {
		return nil
	}
	kind := strings.ToLower(string(p))
	return func(ses *l4.Session) { s.logSession(kind, ses) }
}

func (s *server) logSession(kind string, ses *l4.Session) {
	lp := getLine()
	b := appendLineStart(*lp, ses.Start, kind, s.name, s.rt.opts.Gateway, ses.Listener)
	b = appendStringField(b, "route", ses.Route)
	b = appendStringField(b, "client", ses.Client)
	if ses.SNI != "" {
		b = appendStringField(b, "sni", ses.SNI)
	}
	if ses.Upstream != "" {
		b = appendStringField(b, "upstream", ses.Upstream)
	}
	b = appendIntField(b, "bytes_received", int64(ses.BytesFromClient))
	b = appendIntField(b, "bytes_sent", int64(ses.BytesToClient))
	if kind == "udp" {
		b = appendIntField(b, "datagrams_received", int64(ses.DatagramsFromClient))
		b = appendIntField(b, "datagrams_sent", int64(ses.DatagramsToClient))
	}
	b = appendMillisField(b, "duration_ms", ses.Duration)
	b = appendStringField(b, "reason", ses.Reason)
	b = append(b, '}', '\n')
	*lp = b
	s.rt.accessOut.send(lp)
}
