package config

import "strings"

// String renders the match's conditions for people ("PathPrefix /api,
// method GET, header X-Env=canary, query v~^2"): "~" marks a regular
// expression. Header and query names are shown as written. The
// effective-config view and the explain answer both show matches this way.
func (m HTTPRouteMatch) String() string {
	var parts []string
	if m.Path != nil {
		typ := m.Path.Type
		if typ == "" {
			typ = PathMatchPathPrefix
		}
		parts = append(parts, string(typ)+" "+m.Path.Value)
	} else {
		parts = append(parts, "PathPrefix /")
	}
	if m.Method != "" {
		parts = append(parts, "method "+m.Method)
	}
	for _, h := range m.Headers {
		parts = append(parts, "header "+h.Name+matchOp(h.Type)+h.Value)
	}
	for _, q := range m.QueryParams {
		parts = append(parts, "query "+q.Name+matchOp(q.Type)+q.Value)
	}
	return strings.Join(parts, ", ")
}

func matchOp(t MatchType) string {
	if t == MatchRegularExpression {
		return "~"
	}
	return "="
}
