// Package explain answers, for a proxy config and a description of an HTTP
// request, what the proxy would do with it and why: the bind and listener
// chosen (by port, Host and SNI), the listener's pre-routing filters, the
// route rule that wins with every candidate it was weighed against, the
// traffic policies in phase order with what each decides for this request,
// the rule's filters, the backends with weights and endpoints, timeouts
// and retries.
//
// The answer comes from the same code the data plane runs: proxy/router
// picks the listener and the rule (Table.Explain lists the candidates in
// Route's order), the policies are compiled by their own packages and run
// on a copy of the request, and the filters of proxy/filters rewrite that
// copy. Explain never touches a running proxy: it compiles what it needs
// from the config it is given, calls no external service (ext auth, a
// global rate-limit service, a remote JWKS) and takes no rate-limit token;
// a policy it cannot decide without one says so ("unknown"). Secrets in the
// config (API keys, passwords, private keys, backend credentials) never
// appear in the answer.
package explain

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/router"
)

// Request describes the request to explain.
type Request struct {
	// Method defaults to GET.
	Method string `json:"method"`
	// Host is the Host header (or :authority), optionally with a port.
	Host string `json:"host"`
	// Path is the request target: path and optional query ("/a?b=c").
	// Defaults to "/".
	Path string `json:"path"`
	// Header holds the request headers.
	Header http.Header `json:"-"`
	// Port is the port the request arrives on; 0 takes the port of Host,
	// or the only HTTP or HTTPS bind.
	Port int `json:"port,omitempty"`
	// SNI is the TLS server name on an HTTPS bind; empty means the
	// client sent Host (without port) as its server name.
	SNI string `json:"sni,omitempty"`
}

// Options change what Explain evaluates.
type Options struct {
	// Credentials checks API keys and basic-auth passwords the request
	// carries against the configured ones. Without it, a request that
	// carries credentials gets "unknown" from those policies (one without
	// any is still decided): an answer would tell whoever asks whether a
	// guessed key is valid.
	Credentials bool
}

// Verdicts of a step.
const (
	Pass    = "pass"    // the request goes on
	Reject  = "reject"  // the step answers the request itself (Status)
	Unknown = "unknown" // the step needs something Explain does not do
	Skip    = "skip"    // the step does not apply to this request
)

// Explanation is the answer. Fields after Listener are empty when the
// request does not get that far.
type Explanation struct {
	Request RequestSummary `json:"request"`
	// Outcome is what the client gets.
	Outcome Outcome `json:"outcome"`
	// Bind is the port the request arrives on.
	Bind *Bind `json:"bind,omitempty"`
	// Listener is the listener chosen, and Listeners every listener of the
	// bind with why it was or was not chosen.
	Listener  string          `json:"listener,omitempty"`
	Listeners []ListenerCheck `json:"listeners,omitempty"`
	// PreRouting are the listener's filters, run before routing.
	PreRouting []Step `json:"preRouting,omitempty"`
	// Route is the winning rule; Candidates every match routing tried, in
	// precedence order.
	Route      *RouteChoice `json:"route,omitempty"`
	Candidates []Candidate  `json:"candidates,omitempty"`
	// Policies are the rule's traffic policies in the order they run.
	Policies []Step `json:"policies,omitempty"`
	// Filters are the rule's HTTPRoute filters in the order they run.
	Filters []Step `json:"filters,omitempty"`
	// Upstream is the request as sent to the backend.
	Upstream *Upstream `json:"upstream,omitempty"`
	// Backends are the rule's backendRefs.
	Backends []BackendChoice `json:"backends,omitempty"`
	// Timeouts and Retry of the rule.
	Timeouts *Timeouts `json:"timeouts,omitempty"`
	Retry    *Retry    `json:"retry,omitempty"`
	// SessionPersistence names the cookie or header that pins a client to
	// an endpoint.
	SessionPersistence string `json:"sessionPersistence,omitempty"`
}

// RequestSummary is the request as the proxy routes it. Header values are
// not repeated, only names.
type RequestSummary struct {
	Method string `json:"method"`
	// Host is normalized: lower case, no port, no trailing dot.
	Host string `json:"host"`
	// Path is cleaned of dot segments and repeated slashes.
	Path    string   `json:"path"`
	Query   string   `json:"query,omitempty"`
	Port    int      `json:"port"`
	SNI     string   `json:"sni,omitempty"`
	Headers []string `json:"headers,omitempty"`
}

// Outcome is the end of the request.
type Outcome struct {
	// Action is "proxy" (sent to a backend), "reject" (answered by the
	// proxy: no listener, no route, a policy, an invalid backend),
	// "redirect", "directResponse" or "preflight" (a CORS preflight).
	Action string `json:"action"`
	// Status is the status the proxy answers with itself; 0 when the
	// backend answers.
	Status int `json:"status,omitempty"`
	// Reason says why, in a sentence.
	Reason string `json:"reason"`
	// By is the step that decided ("listener", "route", "policy jwt",
	// "filter requestRedirect", ...).
	By string `json:"by,omitempty"`
	// Location of a redirect.
	Location string `json:"location,omitempty"`
	// Conditional is set when a step before the outcome was "unknown"
	// (for example ext auth): the outcome holds if that step lets the
	// request through.
	Conditional []string `json:"conditional,omitempty"`
}

// Bind is the bind the request arrives on.
type Bind struct {
	Name     string `json:"name"`
	Address  string `json:"address,omitempty"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

// ListenerCheck is one listener of the bind.
type ListenerCheck struct {
	Name     string `json:"name"`
	Hostname string `json:"hostname,omitempty"`
	Chosen   bool   `json:"chosen,omitempty"`
	// Why it was chosen or not.
	Why string `json:"why"`
}

// RouteChoice is the rule that serves the request.
type RouteChoice struct {
	// Key is the route's key ("namespace/name" unless set otherwise).
	Key        string `json:"key"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Rule       int    `json:"rule"`
	RuleName   string `json:"ruleName,omitempty"`
	MatchIndex int    `json:"match"`
	// Match describes the match that won.
	Match string `json:"matchDescription"`
	// Hostname the route was matched under ("" for any).
	Hostname string `json:"hostname,omitempty"`
}

// Candidate is one match routing tried.
type Candidate struct {
	Route    string `json:"route"`
	Rule     int    `json:"rule"`
	Match    int    `json:"match"`
	Hostname string `json:"hostname,omitempty"`
	// Describes the match conditions.
	Description string `json:"description"`
	// Result is "chosen", "lost on precedence" (it matches too, but an
	// earlier candidate won) or "no match: <condition>".
	Result string `json:"result"`
}

// Step is one policy or filter and what it does for this request.
type Step struct {
	// Name is the policy or filter ("jwtAuthentication", "authorization",
	// "localRateLimit[0]", "requestHeaderModifier", ...).
	Name string `json:"name"`
	// Phase of a policy (see proxy/policy).
	Phase string `json:"phase,omitempty"`
	// Verdict is pass, reject, unknown or skip.
	Verdict string `json:"verdict"`
	// Status the step answers with when it rejects.
	Status int `json:"status,omitempty"`
	// Detail says what the step checked or did.
	Detail string `json:"detail"`
	// Rules are the results of CEL rules (authorization).
	Rules []RuleResult `json:"rules,omitempty"`
	// Headers are the request header changes the step made.
	Headers []HeaderChange `json:"headers,omitempty"`
}

// RuleResult is one CEL expression and its value for the request.
type RuleResult struct {
	Expression string `json:"expression"`
	Result     string `json:"result"`
}

// HeaderChange is a request header a step set, added or removed.
type HeaderChange struct {
	Name string `json:"name"`
	// Op is "set" (new or replaced value) or "removed".
	Op    string   `json:"op"`
	Value []string `json:"value,omitempty"`
}

// Upstream is the request as it leaves for the backend (before the
// backend's own credentials, which are never shown).
type Upstream struct {
	Host    string         `json:"host"`
	Path    string         `json:"path"`
	Headers []HeaderChange `json:"headers,omitempty"`
}

// BackendChoice is one backendRef of the rule.
type BackendChoice struct {
	Backend string `json:"backend,omitempty"`
	Weight  int    `json:"weight"`
	// Share is the percentage of requests it gets.
	Share float64 `json:"share"`
	// Invalid is why the ref cannot be used (its share is answered 500).
	Invalid   string     `json:"invalid,omitempty"`
	Protocol  string     `json:"protocol,omitempty"`
	TLS       bool       `json:"tls,omitempty"`
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Filters of the backendRef, applied when it is picked.
	Filters []string `json:"filters,omitempty"`
}

// Endpoint is one address of a backend.
type Endpoint struct {
	Address     string `json:"address"`
	Weight      int    `json:"weight"`
	Zone        string `json:"zone,omitempty"`
	Terminating bool   `json:"terminating,omitempty"`
}

// Timeouts of the rule.
type Timeouts struct {
	Request        string `json:"request,omitempty"`
	BackendRequest string `json:"backendRequest,omitempty"`
}

// Retry of the rule.
type Retry struct {
	Attempts int    `json:"attempts"`
	Codes    []int  `json:"codes,omitempty"`
	Backoff  string `json:"backoff,omitempty"`
	Budget   string `json:"budget,omitempty"`
}

// Explain explains what a proxy serving c does with req. It returns an
// error only for a request it cannot place (no bind on the port, a bind
// that is not HTTP); everything the proxy would answer itself (404, 401,
// ...) is an Outcome. c must have passed config.Validate.
func Explain(c *config.Config, req Request, opts Options) (*Explanation, error) {
	r, err := newRequest(req)
	if err != nil {
		return nil, err
	}
	b, err := pickBind(c, req, r)
	if err != nil {
		return nil, err
	}
	host := router.NormalizeHost(r.Host)
	ex := &Explanation{
		Request: RequestSummary{Method: r.Method, Host: host, Path: r.URL.Path, Query: r.URL.RawQuery, Port: b.Port},
		Bind:    &Bind{Name: b.Name, Address: b.Address, Port: b.Port, Protocol: string(b.Protocol)},
	}
	for name := range r.Header {
		ex.Request.Headers = append(ex.Request.Headers, name)
	}
	sort.Strings(ex.Request.Headers)
	scheme := "http"
	if b.Protocol == config.ProtocolHTTPS {
		scheme = "https"
		sni := req.SNI
		if sni == "" {
			sni = host
		}
		r.TLS = &tls.ConnectionState{ServerName: sni}
		ex.Request.SNI = sni
	}
	l := chooseListener(ex, b, r, host)
	if l == nil {
		return ex, nil
	}
	if !preRouting(ex, l) {
		return ex, nil
	}
	tbl, err := router.Build(l, func(*config.HTTPRoute, int) (struct{}, error) { return struct{}{}, nil })
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.Name, err)
	}
	m, ok := tbl.Route(r, host)
	for _, cand := range tbl.Explain(r, host) {
		out := Candidate{
			Route: cand.Route.EffectiveKey(), Rule: cand.RuleIndex, Match: cand.MatchIndex, Hostname: cand.Hostname,
			Description: describeMatch(cand.Route, cand.RuleIndex, cand.MatchIndex),
		}
		switch {
		case cand.Mismatch != "":
			out.Result = "no match: " + cand.Mismatch
		case ok && ex.Route == nil && cand.Route == m.Route && cand.RuleIndex == m.RuleIndex:
			out.Result = "chosen"
			ex.Route = &RouteChoice{
				Key: cand.Route.EffectiveKey(), Namespace: cand.Route.Namespace, Name: cand.Route.Name,
				Rule: cand.RuleIndex, RuleName: cand.Route.Rules[cand.RuleIndex].Name, MatchIndex: cand.MatchIndex,
				Match: out.Description, Hostname: cand.Hostname,
			}
		default:
			out.Result = "lost on precedence"
		}
		ex.Candidates = append(ex.Candidates, out)
	}
	if !ok {
		ex.Outcome = Outcome{Action: "reject", Status: http.StatusNotFound, Reason: "no route of listener " + l.Name + " matches", By: "route"}
		return ex, nil
	}
	runRule(ex, c, m.Route, m.RuleIndex, m.Prefix, r, scheme, host, b.Port, opts)
	return ex, nil
}

// newRequest builds the request as the proxy would receive it: the path
// decoded, then cleaned as the data plane does before routing.
func newRequest(req Request) (*http.Request, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	target := req.Path
	if target == "" {
		target = "/"
	}
	if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("path %q must start with /", target)
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", target, err)
	}
	if clean := router.CleanPath(u.Path); clean != u.Path {
		u.Path, u.RawPath = clean, ""
	}
	h := http.Header{}
	for k, vs := range req.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	host := req.Host
	if host == "" {
		host = h.Get("Host")
	}
	h.Del("Host")
	r := &http.Request{
		Method: method, URL: u, Host: host, Header: h, RequestURI: u.RequestURI(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody,
		RemoteAddr: "0.0.0.0:0",
	}
	return r, nil
}

func pickBind(c *config.Config, req Request, r *http.Request) (*config.Bind, error) {
	port := req.Port
	if port == 0 {
		if _, p, err := net.SplitHostPort(r.Host); err == nil {
			port, _ = strconv.Atoi(p) //nolint:errcheck // a bad port reads as 0: no bind
		}
	}
	var http []*config.Bind
	for i := range c.Binds {
		b := &c.Binds[i]
		isHTTP := b.Protocol == config.ProtocolHTTP || b.Protocol == config.ProtocolHTTPS
		if port != 0 && b.Port == port {
			if !isHTTP {
				return nil, fmt.Errorf("bind %s on port %d is %s: only HTTP and HTTPS requests are explained", b.Name, port, b.Protocol)
			}
			return b, nil
		}
		if isHTTP {
			http = append(http, b)
		}
	}
	var ports []string
	for _, b := range http {
		ports = append(ports, strconv.Itoa(b.Port))
	}
	switch {
	case port != 0:
		return nil, fmt.Errorf("no bind on port %d (HTTP ports: %s)", port, strings.Join(ports, ", "))
	case len(http) == 1:
		return http[0], nil
	case len(http) == 0:
		return nil, fmt.Errorf("the config has no HTTP or HTTPS bind")
	default:
		return nil, fmt.Errorf("several HTTP ports (%s): say which with port", strings.Join(ports, ", "))
	}
}

// chooseListener picks the listener as the data plane does (the most
// specific hostname matching Host, the same through SNI on HTTPS), and
// sets the outcome when none serves the request.
func chooseListener(ex *Explanation, b *config.Bind, r *http.Request, host string) *config.Listener {
	var idx router.HostIndex[*config.Listener]
	for i := range b.Listeners {
		idx.Add(b.Listeners[i].Hostname, &b.Listeners[i])
	}
	l, ok := idx.Lookup(host)
	var sniL *config.Listener
	sniOK := true
	if r.TLS != nil && r.TLS.ServerName != "" {
		sniL, sniOK = idx.Lookup(router.NormalizeHost(r.TLS.ServerName))
	}
	for i := range b.Listeners {
		bl := &b.Listeners[i]
		lc := ListenerCheck{Name: bl.Name, Hostname: bl.Hostname}
		switch {
		case ok && bl == l:
			lc.Chosen = true
			lc.Why = "most specific hostname matching host " + strconv.Quote(host)
			if bl.Hostname == "" {
				lc.Why = "no hostname: matches every host, and no listener with a matching hostname is more specific"
			}
		case router.WildcardMatches(bl.Hostname, host):
			lc.Why = "matches host " + strconv.Quote(host) + " but a more specific listener hostname does too"
		default:
			lc.Why = "hostname does not match host " + strconv.Quote(host)
		}
		ex.Listeners = append(ex.Listeners, lc)
	}
	switch {
	case r.TLS != nil && r.TLS.ServerName != "" && (!ok || !sniOK || sniL != l):
		ex.Outcome = Outcome{Action: "reject", Status: http.StatusMisdirectedRequest, By: "listener",
			Reason: "host " + strconv.Quote(host) + " belongs to another listener than TLS server name " + strconv.Quote(r.TLS.ServerName)}
		return nil
	case !ok:
		ex.Outcome = Outcome{Action: "reject", Status: http.StatusNotFound, By: "listener", Reason: "no listener of bind " + b.Name + " accepts host " + strconv.Quote(host)}
		return nil
	}
	ex.Listener = l.Name
	return l
}

// preRouting explains the listener's filters; false when one of them
// answers the request.
func preRouting(ex *Explanation, l *config.Listener) bool {
	for i := range l.PreRouting {
		f := &l.PreRouting[i]
		switch {
		case f.ExtAuth != nil:
			ex.PreRouting = append(ex.PreRouting, Step{Name: fmt.Sprintf("extAuth[%d]", i), Verdict: Unknown,
				Detail: describeExtAuth(f.ExtAuth) + "; not called by explain"})
			ex.Outcome.Conditional = append(ex.Outcome.Conditional, fmt.Sprintf("pre-routing extAuth[%d] allows the request", i))
		case f.DirectResponse != nil:
			ex.PreRouting = append(ex.PreRouting, Step{Name: fmt.Sprintf("directResponse[%d]", i), Verdict: Reject,
				Status: f.DirectResponse.StatusCode, Detail: "answers every request of the listener"})
			ex.Outcome = Outcome{Action: "directResponse", Status: f.DirectResponse.StatusCode, By: "pre-routing directResponse",
				Reason: "listener " + l.Name + " answers every request itself", Conditional: ex.Outcome.Conditional}
			return false
		}
	}
	return true
}

// describeMatch renders a match's conditions; a rule without matches
// matches every path.
func describeMatch(route *config.HTTPRoute, rule, match int) string {
	ms := route.Rules[rule].Matches
	if len(ms) == 0 {
		return "PathPrefix /"
	}
	return ms[match].String()
}

// headerDiff lists the header changes from before to after.
func headerDiff(before, after http.Header) []HeaderChange {
	var out []HeaderChange
	for k, v := range after {
		if old, ok := before[k]; !ok || !equal(old, v) {
			out = append(out, HeaderChange{Name: k, Op: "set", Value: append([]string(nil), v...)})
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, HeaderChange{Name: k, Op: "removed"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// recorder is where a step run by Explain writes its answer.
func recorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
