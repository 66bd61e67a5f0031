package filters

import (
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// HeaderModifier is a compiled RequestHeaderModifier or
// ResponseHeaderModifier.
type HeaderModifier struct {
	set, add []config.HTTPHeader // names canonicalized
	remove   []string
}

// NewHeaderModifier compiles m; nil yields nil, which Apply treats as a no-op.
func NewHeaderModifier(m *config.HeaderModifier) *HeaderModifier {
	if m == nil {
		return nil
	}
	h := &HeaderModifier{}
	for _, x := range m.Set {
		h.set = append(h.set, config.HTTPHeader{Name: http.CanonicalHeaderKey(x.Name), Value: x.Value})
	}
	for _, x := range m.Add {
		h.add = append(h.add, config.HTTPHeader{Name: http.CanonicalHeaderKey(x.Name), Value: x.Value})
	}
	for _, x := range m.Remove {
		h.remove = append(h.remove, http.CanonicalHeaderKey(x))
	}
	return h
}

// Apply sets, then adds, then removes headers, the Gateway API order.
func (m *HeaderModifier) Apply(h http.Header) {
	if m == nil {
		return
	}
	for _, x := range m.set {
		h[x.Name] = []string{x.Value}
	}
	for _, x := range m.add {
		h[x.Name] = append(h[x.Name], x.Value)
	}
	for _, name := range m.remove {
		delete(h, name)
	}
}
