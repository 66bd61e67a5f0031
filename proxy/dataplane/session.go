package dataplane

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// session implements SessionPersistence: the token names the backend and
// endpoint that served the client, so later requests go there again while
// it exists, and, when the session has a lifetime, until when it lasts.
type session struct {
	cookie   bool
	name     string
	path     string
	maxAge   int
	lifetime time.Duration
	now      func() time.Time
}

func newSession(sp *config.SessionPersistence) *session {
	s := &session{cookie: sp.Type != config.SessionPersistenceHeader, name: sp.SessionName, path: sp.CookiePath, now: time.Now}
	if s.path == "" {
		s.path = "/"
	}
	if sp.AbsoluteTimeout != nil {
		s.maxAge = int(sp.AbsoluteTimeout.Seconds())
	}
	if sp.Lifetime != nil {
		s.lifetime = sp.Lifetime.Duration
	}
	return s
}

// get reads the client's token: the backend and endpoint address it names.
// A token without an expiry, for a session with a lifetime, or past its
// expiry does not apply.
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
	if !ok || s.lifetime == 0 {
		return backend, addr, ok
	}
	i := strings.LastIndexByte(addr, '|')
	if i < 0 {
		return "", "", false
	}
	exp, err := strconv.ParseInt(addr[i+1:], 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return "", "", false
	}
	return backend, addr[:i], true
}

func (s *session) set(h http.Header, backend, addr string) {
	tok := backend + "|" + addr
	if s.lifetime > 0 {
		tok += "|" + strconv.FormatInt(s.now().Add(s.lifetime).Unix(), 10)
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(tok))
	if !s.cookie {
		h.Set(s.name, v)
		return
	}
	c := &http.Cookie{Name: s.name, Value: v, Path: s.path, HttpOnly: true, MaxAge: s.maxAge}
	h.Add("Set-Cookie", c.String())
}

// reissue reports whether the response must carry a fresh token: the
// client sent none that applied (or one past its lifetime), or the
// endpoint it named is gone (a rollout replaced it) and another one served
// the request.
func (s *session) reissue(ex *exchange) bool {
	if ex.picked.Endpoint == nil || ex.ref == nil {
		return false
	}
	return !ex.sessionValid || ex.picked.Endpoint.Address != ex.picked.Prefer
}
