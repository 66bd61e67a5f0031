package explain

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/filters"
)

// runRule explains what the rule does with r, in the data plane's order
// (proxy/dataplane ruleHandler.serve): a CORS preflight, the traffic
// policies, the request header modifier, a redirect or direct response,
// mirrors, the backendRef pick, the URL rewrite and the backendRef's
// filters.
func runRule(ex *Explanation, c *config.Config, route *config.HTTPRoute, ruleIndex int, prefix string, r *http.Request, scheme, host string, port int, opts Options) {
	rule := &route.Rules[ruleIndex]
	ex.Backends = backends(c, rule)
	ex.Timeouts, ex.Retry = timeouts(rule)
	if sp := rule.SessionPersistence; sp != nil {
		t := sp.Type
		if t == "" {
			t = config.SessionPersistenceCookie
		}
		ex.SessionPersistence = string(t) + " " + sp.SessionName
	}
	// The request as the steps change it; the original stays as it was.
	wr := r.Clone(r.Context())
	original := wr.Header.Clone()

	var cors *filters.CORS
	for i := range rule.Filters {
		if f := rule.Filters[i].CORS; f != nil {
			cors = filters.NewCORS(f)
		}
	}
	if cors != nil {
		rec := recorder()
		if cors.Preflight(rec, wr) {
			ex.Filters = append(ex.Filters, Step{Name: "cors", Verdict: Reject, Status: rec.Code, Detail: "answers the CORS preflight"})
			ex.Outcome = Outcome{Action: "preflight", Status: rec.Code, By: "filter cors", Reason: "a CORS preflight is answered by the proxy"}
			return
		}
	}

	if rule.Traffic != nil {
		act := &cel.Activation{Request: cel.RequestFromHTTP(wr), Source: cel.SourceFromHTTP(wr)}
		steps, err := policySteps(rule.Traffic, route.EffectiveKey(), opts)
		if err != nil {
			ex.Outcome = Outcome{Action: "reject", Status: http.StatusInternalServerError, By: "policy", Reason: "the rule's policies do not compile: " + err.Error()}
			return
		}
		for i, s := range steps {
			before := wr.Header.Clone()
			st := s.run(wr, act)
			st.Name, st.Phase = s.name, s.phase.String()
			if st.Headers == nil && st.Verdict != Reject {
				st.Headers = headerDiff(before, wr.Header)
			}
			ex.Policies = append(ex.Policies, st)
			switch st.Verdict {
			case Reject:
				for _, rest := range steps[i+1:] {
					ex.Policies = append(ex.Policies, Step{Name: rest.name, Phase: rest.phase.String(), Verdict: Skip, Detail: "not reached: " + s.name + " answered the request"})
				}
				ex.Outcome = Outcome{Action: "reject", Status: st.Status, By: "policy " + s.name, Reason: st.Detail, Conditional: ex.Outcome.Conditional}
				return
			case Unknown:
				ex.Outcome.Conditional = append(ex.Outcome.Conditional, "policy "+s.name+" lets the request through")
			}
		}
		if a := rule.Traffic.MCPAuthorization; a != nil {
			ex.Policies = append(ex.Policies, Step{Name: "mcpAuthorization", Phase: "MCPAuthorization", Verdict: Skip,
				Detail: fmt.Sprintf("%s with %d CEL rules on each MCP operation of the rule's MCP backends (tools/call, prompts/get, resources/read; lists are filtered); an HTTP request is not an MCP operation, so explain does not evaluate them", a.Action, len(a.Rules))})
		}
	}

	for i := range rule.Filters {
		f := &rule.Filters[i]
		switch {
		case f.RequestHeaderModifier != nil:
			before := wr.Header.Clone()
			filters.NewHeaderModifier(f.RequestHeaderModifier).Apply(wr.Header)
			ex.Filters = append(ex.Filters, Step{Name: "requestHeaderModifier", Verdict: Pass, Detail: "changes request headers", Headers: headerDiff(before, wr.Header)})
		case f.ResponseHeaderModifier != nil:
			ex.Filters = append(ex.Filters, Step{Name: "responseHeaderModifier", Verdict: Pass, Detail: "changes response headers: " + describeModifier(f.ResponseHeaderModifier)})
		case f.URLRewrite != nil:
			ex.Filters = append(ex.Filters, Step{Name: "urlRewrite", Verdict: Pass, Detail: describeRewrite(f.URLRewrite)})
		case f.RequestMirror != nil:
			pct := 100
			if f.RequestMirror.Percent != nil {
				pct = *f.RequestMirror.Percent
			}
			ex.Filters = append(ex.Filters, Step{Name: "requestMirror", Verdict: Pass, Detail: fmt.Sprintf("copies %d%% of requests to backend %s (answers discarded)", pct, f.RequestMirror.Backend)})
		case f.CORS != nil:
			ex.Filters = append(ex.Filters, Step{Name: "cors", Verdict: Pass, Detail: "not a preflight: CORS headers are added to the response for an allowed Origin"})
		}
	}
	for i := range rule.Filters {
		f := &rule.Filters[i]
		switch {
		case f.RequestRedirect != nil:
			loc, code := filters.NewRedirect(f.RequestRedirect).Location(wr, scheme, host, port, prefix)
			ex.Filters = append(ex.Filters, Step{Name: "requestRedirect", Verdict: Reject, Status: code, Detail: "redirects to " + loc})
			ex.Outcome = Outcome{Action: "redirect", Status: code, Location: loc, By: "filter requestRedirect", Reason: "the rule redirects", Conditional: ex.Outcome.Conditional}
			return
		case f.DirectResponse != nil:
			ex.Filters = append(ex.Filters, Step{Name: "directResponse", Verdict: Reject, Status: f.DirectResponse.StatusCode, Detail: "the proxy answers with a fixed response"})
			ex.Outcome = Outcome{Action: "directResponse", Status: f.DirectResponse.StatusCode, By: "filter directResponse", Reason: "the rule answers itself", Conditional: ex.Outcome.Conditional}
			return
		}
	}

	// The upstream request: the rule's rewrite, then (for the first usable
	// backendRef, as an example of the pick) its own filters.
	out := wr.Clone(wr.Context())
	out.URL.Host = "backend"
	for i := range rule.Filters {
		if rw := rule.Filters[i].URLRewrite; rw != nil {
			filters.NewRewrite(rw).Apply(out, prefix)
		}
	}
	usable := false
	for _, b := range ex.Backends {
		if b.Invalid == "" && b.Weight > 0 {
			usable = true
		}
	}
	if !usable {
		ex.Outcome = Outcome{Action: "reject", Status: http.StatusInternalServerError, By: "backend",
			Reason: "the rule has no valid backendRef with a weight", Conditional: ex.Outcome.Conditional}
		return
	}
	ex.Upstream = &Upstream{Host: out.Host, Path: out.URL.Path, Headers: headerDiff(original, out.Header)}
	if out.URL.RawQuery != "" {
		ex.Upstream.Path += "?" + out.URL.RawQuery
	}
	reason := "sent to a backend picked by weight"
	if len(ex.Backends) == 1 {
		reason = "sent to backend " + ex.Backends[0].Backend
	}
	for _, b := range ex.Backends {
		if b.Invalid != "" {
			reason += fmt.Sprintf("; %.0f%% of requests get 500 (invalid backendRef)", b.Share)
		}
	}
	ex.Outcome = Outcome{Action: "proxy", By: "route " + route.EffectiveKey(), Reason: reason, Conditional: ex.Outcome.Conditional}
}

func backends(c *config.Config, rule *config.HTTPRouteRule) []BackendChoice {
	total := 0
	for _, br := range rule.BackendRefs {
		total += weight(br.Weight)
	}
	var out []BackendChoice
	for _, br := range rule.BackendRefs {
		bc := BackendChoice{Backend: br.Backend, Weight: weight(br.Weight), Invalid: br.Invalid}
		if total > 0 {
			bc.Share = float64(int(float64(bc.Weight)*10000/float64(total))) / 100
		}
		for _, f := range br.Filters {
			switch {
			case f.RequestHeaderModifier != nil:
				bc.Filters = append(bc.Filters, "requestHeaderModifier: "+describeModifier(f.RequestHeaderModifier))
			case f.ResponseHeaderModifier != nil:
				bc.Filters = append(bc.Filters, "responseHeaderModifier: "+describeModifier(f.ResponseHeaderModifier))
			case f.URLRewrite != nil:
				bc.Filters = append(bc.Filters, "urlRewrite: "+describeRewrite(f.URLRewrite))
			}
		}
		if b := c.BackendByName(br.Backend); b != nil && br.Invalid == "" {
			bc.Protocol = string(b.Protocol)
			if bc.Protocol == "" {
				bc.Protocol = string(config.BackendHTTP1)
			}
			bc.TLS = b.TLS != nil
			for _, e := range b.Endpoints {
				w := e.Weight
				if w == 0 {
					w = 1
				}
				bc.Endpoints = append(bc.Endpoints, Endpoint{Address: e.Address, Weight: w, Zone: e.Zone, Terminating: e.Terminating})
			}
		}
		out = append(out, bc)
	}
	return out
}

func weight(w *int) int {
	if w == nil {
		return 1
	}
	return *w
}

func timeouts(rule *config.HTTPRouteRule) (*Timeouts, *Retry) {
	var t *Timeouts
	if rt := rule.Timeouts; rt != nil {
		t = &Timeouts{}
		if rt.Request != nil {
			t.Request = rt.Request.Duration.String()
		}
		if rt.BackendRequest != nil {
			t.BackendRequest = rt.BackendRequest.Duration.String()
		}
	}
	var r *Retry
	if rr := rule.Retry; rr != nil {
		r = &Retry{Attempts: rr.Attempts, Codes: rr.Codes, Backoff: "25ms"}
		if rr.Backoff != nil {
			r.Backoff = rr.Backoff.Duration.String()
		}
		if b := rr.Budget; b != nil {
			r.Budget = fmt.Sprintf("%d%% of recent requests", b.Percent)
		}
	}
	return t, r
}

func describeModifier(m *config.HeaderModifier) string {
	var parts []string
	for _, h := range m.Set {
		parts = append(parts, "set "+h.Name+": "+h.Value)
	}
	for _, h := range m.Add {
		parts = append(parts, "add "+h.Name+": "+h.Value)
	}
	for _, n := range m.Remove {
		parts = append(parts, "remove "+n)
	}
	return strings.Join(parts, "; ")
}

func describeRewrite(rw *config.URLRewrite) string {
	var parts []string
	if rw.Hostname != "" {
		parts = append(parts, "host "+rw.Hostname)
	}
	if p := rw.Path; p != nil {
		switch p.Type {
		case config.ReplaceFullPath:
			parts = append(parts, "path "+p.ReplaceFullPath)
		case config.ReplacePrefixMatch:
			parts = append(parts, "matched prefix -> "+strconv.Quote(p.ReplacePrefixMatch))
		}
	}
	return "rewrites " + strings.Join(parts, ", ")
}

func describeExtAuth(e *config.ExtAuth) string {
	proto := e.Protocol
	if proto == "" {
		proto = config.ExtAuthHTTP
	}
	s := fmt.Sprintf("asks %s service %s", proto, e.Backend)
	if e.FailOpen {
		return s + " (fails open)"
	}
	return s + " (fails closed: 403 when unreachable)"
}
