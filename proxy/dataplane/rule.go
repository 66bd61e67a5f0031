package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/filters"
	"github.com/agentgateway/agentgateway-go/proxy/mcp"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
	"github.com/agentgateway/agentgateway-go/proxy/policy/bodylimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
	"github.com/agentgateway/agentgateway-go/proxy/policy/localratelimit"
	"github.com/agentgateway/agentgateway-go/proxy/policy/retrybudget"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// ruleHandler serves the requests one HTTPRoute rule matched.
type ruleHandler struct {
	routeKey string
	name     string // the rule's, for access logs
	reqMod   *filters.HeaderModifier
	respMod  *filters.HeaderModifier
	redirect *filters.Redirect
	rewrite  *filters.Rewrite
	direct   *filters.DirectResponse
	cors     *filters.CORS
	mirrors  []*filters.Mirror
	session  *session
	traffic  *trafficPolicy

	refs      []*refHandler
	cumWeight []int // prefix sums; empty or total 0 means "no backend": 500
	timeout   time.Duration
	// timed says the rule bounds its backend exchanges itself
	// (timeouts.request or timeouts.backendRequest), which replaces the
	// default ResponseHeaderTimeout (limits.go).
	timed bool
	// series are the rule's request metrics (metrics.go), made on its
	// first request.
	series atomic.Pointer[routeSeries]
}

// refHandler proxies to one backendRef of a rule.
type refHandler struct {
	backend *upstream.Backend // nil for an invalid ref: 500
	reqMod  *filters.HeaderModifier
	respMod *filters.HeaderModifier
	// rewrite runs after the rule's (config.BackendRef.Filters).
	rewrite *filters.Rewrite
	proxy   *httputil.ReverseProxy
	// celBackend is the backend CEL variable of the access log
	// (accesslog.go), built once; expressions only read it.
	celBackend *cel.Backend
	// mcp serves the ref when its backend is an MCP backend (mcp.go).
	mcp *mcp.Gateway
	// series are the backend's request metrics (metrics.go).
	series *backendSeries
}

type buildEnv struct {
	backends map[string]*upstream.Backend
	metrics  *Metrics
	slots    chan struct{} // mirror concurrency, shared by the config
	limiters *localratelimit.Set
	authz    *callout.Conns // ext-auth and rate-limit gRPC connections, kept across reloads
	log      errorLogger
	budgets  *retrybudget.Set // retry budgets, kept across reloads
	// backendBudgets are the budgets of backends with a RetryBudget, by
	// backend name.
	backendBudgets map[string]*retrybudget.Budget
	// auth are the Authorization values of backends with credentials
	// (backendauth.go), by backend name.
	auth map[string]string
	// mcp are the gateways of MCP backends, by backend name (mcp.go).
	mcp map[string]*mcp.Gateway
	// exporters are the OTLP exporters of listener tracing, kept across
	// reloads (tracing.go).
	exporters *exporterSet
	// deps, while set, records what buildRule takes from the environment
	// (routecache.go): buildRule reads backends and budgets through
	// env.backend, env.backendBudget and env.ruleBudget.
	deps *ruleDeps
}

// backendBudgets returns the budgets of the backends that have one.
func backendBudgets(s *retrybudget.Set, backends []config.Backend) map[string]*retrybudget.Budget {
	out := map[string]*retrybudget.Budget{}
	for i := range backends {
		if rb := backends[i].RetryBudget; rb != nil {
			out[backends[i].Name] = s.Get("backend\x00"+backends[i].Name, rb)
		}
	}
	return out
}

type errorLogger = policy.Logger

// policyEnv is the policy.Env of a config being built.
type policyEnv struct{ env *buildEnv }

// Backend looks the backend up without recording it as a dependency of
// the rule: rules with traffic policies are rebuilt on every reload
// (buildEnv.untracked).
func (p policyEnv) Backend(name string) *upstream.Backend { return p.env.backends[name] }

func (p policyEnv) Logger() policy.Logger { return p.env.log }

func buildRule(env *buildEnv, route *config.HTTPRoute, ruleIndex int) (*ruleHandler, error) {
	rule := &route.Rules[ruleIndex]
	h := &ruleHandler{routeKey: route.EffectiveKey(), name: rule.Name}
	for i := range rule.Filters {
		f := &rule.Filters[i]
		switch {
		case f.RequestHeaderModifier != nil:
			h.reqMod = filters.NewHeaderModifier(f.RequestHeaderModifier)
		case f.ResponseHeaderModifier != nil:
			h.respMod = filters.NewHeaderModifier(f.ResponseHeaderModifier)
		case f.RequestRedirect != nil:
			h.redirect = filters.NewRedirect(f.RequestRedirect)
		case f.URLRewrite != nil:
			h.rewrite = filters.NewRewrite(f.URLRewrite)
		case f.DirectResponse != nil:
			h.direct = filters.NewDirectResponse(f.DirectResponse)
		case f.CORS != nil:
			h.cors = filters.NewCORS(f.CORS)
		case f.RequestMirror != nil:
			b := env.backend(f.RequestMirror.Backend)
			if b == nil {
				return nil, fmt.Errorf("mirror backend %q is not defined", f.RequestMirror.Backend)
			}
			m := filters.NewMirror(withBackendAuth(env, b.Name, b), b.Scheme(), f.RequestMirror.Percent, env.slots)
			m.Dropped = env.metrics.MirrorsDropped.Inc
			h.mirrors = append(h.mirrors, m)
		}
	}
	if sp := rule.SessionPersistence; sp != nil {
		h.session = newSession(sp)
	}
	if rule.Traffic != nil {
		env.untracked() // limiters, ext auth connections: rebuilt on every reload
	}
	tp, err := buildTraffic(rule.Traffic, env, h.routeKey)
	if err != nil {
		return nil, err
	}
	h.traffic = tp
	var attemptTimeout time.Duration
	if t := rule.Timeouts; t != nil {
		if t.Request != nil {
			h.timeout = t.Request.Duration
		}
		if t.BackendRequest != nil {
			attemptTimeout = t.BackendRequest.Duration
		}
	}
	// Every valid ref gets a retrier with attemptTimeout; a rule without
	// one never reaches a backend.
	h.timed = h.timeout > 0 || attemptTimeout > 0
	var ruleBudget *retrybudget.Budget
	if rule.Retry != nil && rule.Retry.Budget != nil {
		// Per rule: its requests fund its retries, whichever backendRef
		// they went to.
		ruleBudget = env.ruleBudget("rule\x00"+h.routeKey+"\x00"+strconv.Itoa(ruleIndex), rule.Retry.Budget)
	}
	total := 0
	for i := range rule.BackendRefs {
		br := &rule.BackendRefs[i]
		w := 1
		if br.Weight != nil {
			w = *br.Weight
		}
		ref := &refHandler{}
		for j := range br.Filters {
			if m := br.Filters[j].RequestHeaderModifier; m != nil {
				ref.reqMod = filters.NewHeaderModifier(m)
			}
			if m := br.Filters[j].ResponseHeaderModifier; m != nil {
				ref.respMod = filters.NewHeaderModifier(m)
			}
			if rw := br.Filters[j].URLRewrite; rw != nil {
				ref.rewrite = filters.NewRewrite(rw)
			}
		}
		if br.Invalid == "" {
			ref.backend = env.backend(br.Backend)
			if ref.backend == nil {
				return nil, fmt.Errorf("backend %q is not defined", br.Backend)
			}
			ref.celBackend = &cel.Backend{Name: ref.backend.Name, Protocol: celProtocol(ref.backend.Protocol)}
			ref.series = env.metrics.backendSeries(ref.backend.Name)
			var budgets []*retrybudget.Budget
			if ruleBudget != nil {
				budgets = append(budgets, ruleBudget)
			}
			if b := env.backendBudget(br.Backend); b != nil {
				budgets = append(budgets, b)
			}
			ref.proxy = newReverseProxy(env, h, ref, rule.Retry, attemptTimeout, budgets)
			ref.mcp = env.mcp[br.Backend]
		}
		total += w
		h.refs = append(h.refs, ref)
		h.cumWeight = append(h.cumWeight, total)
	}
	return h, nil
}

func newReverseProxy(env *buildEnv, rule *ruleHandler, ref *refHandler, retry *config.Retry, attemptTimeout time.Duration, budgets []*retrybudget.Budget) *httputil.ReverseProxy {
	var transport http.RoundTripper = ref.backend
	if retry != nil || attemptTimeout > 0 || len(budgets) > 0 {
		// A backend budget counts every request to the backend, also of
		// rules that never retry.
		r := newRetrier(ref.backend, retry, attemptTimeout, budgets)
		if m := env.metrics; m != nil {
			r.retries = m.Retries.WithLabelValues(rule.routeKey, ref.backend.Name)
			r.budgetSpent = m.RetryBudget.WithLabelValues(rule.routeKey, ref.backend.Name, "configured")
			if len(budgets) == 0 {
				r.budgetSpent = m.RetryBudget.WithLabelValues(rule.routeKey, ref.backend.Name, "builtin")
			}
		}
		transport = r
	}
	transport = withBackendAuth(env, ref.backend.Name, transport)
	backendName := ref.backend.Name
	scheme := ref.backend.Scheme()
	return &httputil.ReverseProxy{
		Transport:  transport,
		BufferPool: copyBuffers,
		Rewrite: func(pr *httputil.ProxyRequest) {
			ex := exchangeFrom(pr.In.Context())
			pr.SetXForwarded()
			pr.Out.URL.Scheme = scheme
			// Placeholder; upstream.Backend replaces it with the picked
			// endpoint. The Host header stays the client's (pr.Out.Host).
			pr.Out.URL.Host = "backend"
			pr.Out.Host = pr.In.Host
			if ex != nil {
				ex.log.upstreamStart = time.Now()
				rule.rewrite.Apply(pr.Out, ex.prefix)
				ref.rewrite.Apply(pr.Out, ex.prefix)
			}
			ref.reqMod.Apply(pr.Out.Header)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if bodylimit.HandleError(w, r, err) {
				return
			}
			ex := exchangeFrom(r.Context())
			if ex != nil && ex.body != nil && ex.body.broken.Load() {
				// The client's chunked body broke off the backend
				// request: the client's error, not the backend's.
				env.log.Debug("request body aborted", "backend", backendName, "error", err)
				badBody(w, r)
				return
			}
			code, reason, msg := http.StatusBadGateway, "connect", ""
			switch {
			case bodyTimedOut(r, err):
				// limits.go: a stalled upload.
				w.Header().Set("Connection", "close")
				code, reason = http.StatusRequestTimeout, "request_body_timeout"
			case timedOut(r.Context()):
				code, reason = http.StatusGatewayTimeout, "timeout"
			case errors.Is(err, upstream.ErrNoEndpoints):
				code, reason = http.StatusServiceUnavailable, "no_endpoints"
			case errors.Is(err, errRetryBudget):
				code, reason, msg = http.StatusServiceUnavailable, "retry_budget", "retry budget exhausted"
			case errors.Is(err, context.DeadlineExceeded) || ex != nil && ex.reqCtx != nil && ex.reqCtx.Err() == context.DeadlineExceeded:
				code, reason = http.StatusGatewayTimeout, "timeout"
			case errors.Is(err, context.Canceled):
				// The client went away; nobody reads this response.
				code, reason = 499, "client_cancel"
			}
			env.metrics.UpstreamErrors.WithLabelValues(backendName, reason).Inc()
			env.log.Debug("upstream error", "backend", backendName, "error", err)
			if ex != nil {
				ex.upstreamDone()
				ex.log.reason = reason
			}
			if code == 499 {
				// Not a real HTTP status; record it for metrics only.
				if ex != nil {
					ex.w.code = 499
				}
				return
			}
			if msg == "" {
				msg = http.StatusText(code)
			}
			localError(w, r, code, msg)
		},
		ModifyResponse: func(resp *http.Response) error {
			gotResponseHead(resp.Request.Context()) // limits.go
			ex := exchangeFrom(resp.Request.Context())
			if ex != nil {
				ex.upstreamDone()
			}
			if rule.traffic == nil {
				return nil
			}
			var act *cel.Activation
			if ex != nil {
				act = ex.act
			}
			return rule.traffic.response(resp, act)
		},
		// Silence the default logger; errors are counted in metrics.
		ErrorLog: discardLogger,
	}
}

// serve runs the rule for a routed request.
func (h *ruleHandler) serve(w http.ResponseWriter, r *http.Request, ex *exchange, scheme, host string, port int) {
	if h.cors != nil {
		ex.origin = r.Header.Get("Origin")
		if h.cors.Preflight(w, r) {
			return
		}
	}
	if h.traffic != nil {
		ex.act = &cel.Activation{Request: cel.RequestFromHTTP(r), Source: cel.SourceFromHTTP(r)}
		if !h.traffic.enforce(w, r, ex.act) {
			return
		}
	}
	h.reqMod.Apply(r.Header)
	if h.redirect != nil {
		loc, code := h.redirect.Location(r, scheme, host, port, ex.prefix)
		w.Header().Set("Location", loc)
		w.WriteHeader(code)
		return
	}
	if h.direct != nil {
		h.direct.Serve(w)
		return
	}
	if len(h.mirrors) > 0 {
		h.mirror(r)
	}
	ref := h.pick(r, ex)
	if ref == nil || ref.backend == nil {
		// The Gateway API requires 500 for requests sent to an invalid
		// or missing backend (or a rule with none at all).
		ex.log.reason = "no_backend"
		localError(w, r, http.StatusInternalServerError, "no valid backend for this route")
		return
	}
	ex.ref = ref
	if h.timeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
		defer cancel()
		ex.reqCtx = ctx
		r = r.WithContext(ctx)
	}
	if ref.mcp != nil {
		h.serveMCP(w, r, ex, ref.mcp)
		return
	}
	ref.proxy.ServeHTTP(w, r)
}

// pick chooses a backendRef by weight, or the one holding the client's
// session.
func (h *ruleHandler) pick(r *http.Request, ex *exchange) *refHandler {
	if h.session != nil {
		if name, addr, ok := h.session.get(r); ok {
			for _, ref := range h.refs {
				if ref.backend != nil && ref.backend.Name == name {
					ex.picked.Prefer = addr
					ex.sessionValid = true
					return ref
				}
			}
		}
	}
	n := len(h.cumWeight)
	if n == 0 || h.cumWeight[n-1] == 0 {
		return nil
	}
	if n == 1 {
		return h.refs[0]
	}
	x := rand.IntN(h.cumWeight[n-1])
	for i, c := range h.cumWeight {
		if x < c {
			return h.refs[i]
		}
	}
	return h.refs[n-1]
}

// mirror sends the request to every mirror backend. A small body is read
// into memory so both the mirrors and the main request get it; a larger
// or unknown-length body is not mirrored.
func (h *ruleHandler) mirror(r *http.Request) {
	var body []byte
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
	case r.ContentLength > 0 && r.ContentLength <= filters.MirrorBodyLimit:
		b, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return
		}
		body = b
	default:
		for _, m := range h.mirrors {
			if m.Dropped != nil {
				m.Dropped()
			}
		}
		return
	}
	for _, m := range h.mirrors {
		m.Send(r, body)
	}
}
