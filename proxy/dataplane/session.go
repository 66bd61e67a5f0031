package dataplane

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// session implements SessionPersistence: the token names the backend and
// endpoint that served the client, so later requests go there again while
// it exists.
type session struct {
	cookie bool
	name   string
	maxAge int
}

func newSession(sp *config.SessionPersistence) *session {
	s := &session{cookie: sp.Type != config.SessionPersistenceHeader, name: sp.SessionName}
	if sp.AbsoluteTimeout != nil {
		s.maxAge = int(sp.AbsoluteTimeout.Seconds())
	}
	return s
}

func (s *session) get(r *http.Request) (backend, addr string, ok bool) {
	var v string
	if s.cookie {
		c, err := r.Cookie(s.name)
		if err != nil {
			return "", "", false
		}
		v = c.Value
	} else {
		v = r.Header.Get(s.name)
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return "", "", false
	}
	backend, addr, ok = strings.Cut(string(raw), "|")
	return backend, addr, ok
}

func (s *session) set(h http.Header, backend, addr string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(backend + "|" + addr))
	if !s.cookie {
		h.Set(s.name, v)
		return
	}
	c := &http.Cookie{Name: s.name, Value: v, Path: "/", HttpOnly: true, MaxAge: s.maxAge}
	h.Add("Set-Cookie", c.String())
}

// reissue reports whether the response must carry a fresh token: the
// client sent none that applied, or the endpoint it named is gone (a
// rollout replaced it) and another one served the request.
func (s *session) reissue(ex *exchange) bool {
	if ex.picked.Endpoint == nil || ex.ref == nil {
		return false
	}
	return !ex.sessionValid || ex.picked.Endpoint.Address != ex.picked.Prefer
}
