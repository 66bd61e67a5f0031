package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/tracing"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// listenerTracing is a listener's compiled config.Tracing. Such listeners
// are served by net/http (the fast path hands their connections over):
// ServeHTTP starts the server span (start) and ends it (endSpan); the
// upstream attempts and ext-auth calls find it in the request context.
type listenerTracing struct {
	tracer   *tracing.Tracer
	cond     *cel.Program
	spanName string
	attrs    []spanAttr
	// act says the condition or an attribute needs CEL variables.
	act bool
}

type spanAttr struct {
	name, value, header, attribute string
	expr                           *cel.Program
}

func newListenerTracing(c *config.Tracing, env *buildEnv) (*listenerTracing, error) {
	if c == nil {
		return nil, nil
	}
	exp, err := env.exporters.get(c, env)
	if err != nil {
		return nil, err
	}
	s := tracing.Sampler{Ratio: 1, ParentBased: true, ParentRatio: 1}
	if c.SamplingRate != nil {
		s.Ratio = *c.SamplingRate
	}
	if c.ParentBased != nil {
		s.ParentBased = *c.ParentBased
	}
	if c.ParentSamplingRate != nil {
		s.ParentRatio = *c.ParentSamplingRate
	}
	lt := &listenerTracing{tracer: tracing.NewTracer(exp, s, c.ServiceName, nil), spanName: c.SpanName}
	if c.Condition != "" {
		p, err := cel.Compile(cel.PhaseTracing, cel.KindCondition, c.Condition)
		if err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		lt.cond, lt.act = p, true
	}
	for _, a := range c.Attributes {
		sa := spanAttr{name: a.Name, value: a.Value, header: a.Header, attribute: a.Attribute}
		if a.Expression != "" {
			p, err := cel.Compile(cel.PhaseTracing, cel.KindAny, a.Expression)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
			}
			sa.expr, lt.act = p, true
		}
		lt.attrs = append(lt.attrs, sa)
	}
	return lt, nil
}

// start decides whether the request is traced and, if so, starts its
// server span and returns the request carrying it. An untraced request is
// returned as it came, and its traceparent (if any) reaches the backend
// unchanged.
func (lt *listenerTracing) start(r *http.Request, ex *exchange) *http.Request {
	parent, _ := tracing.ParseTraceparent(r.Header.Get("traceparent"))
	if parent.IsValid() {
		if ts := r.Header.Get("tracestate"); ts != "" && tracing.ValidTracestate(ts) {
			parent.TraceState = ts
		}
	}
	c, ok := lt.tracer.Decide(parent)
	if !ok {
		return r
	}
	var act *cel.Activation
	if lt.act {
		act = &cel.Activation{Request: cel.RequestFromHTTP(r), Source: cel.SourceFromHTTP(r)}
	}
	if lt.cond != nil {
		if ok, err := lt.cond.EvalBool(r.Context(), act); err != nil || !ok {
			return r
		}
	}
	name := lt.spanName
	if name == "" {
		name = r.Method
	}
	sp := lt.tracer.StartServer(c, parent.SpanID, name)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	sp.SetString("http.request.method", r.Method)
	sp.SetString("url.path", r.URL.Path)
	if r.URL.RawQuery != "" {
		sp.SetString("url.query", r.URL.RawQuery)
	}
	sp.SetString("url.scheme", scheme)
	host, port := r.Host, ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = h, p
	}
	sp.SetString("server.address", host)
	if n, err := strconv.Atoi(port); err == nil {
		sp.SetInt("server.port", int64(n))
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sp.SetString("client.address", h)
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		sp.SetString("user_agent.original", ua)
	}
	sp.SetString("network.protocol.version", protocolVersion(r))
	for _, a := range lt.attrs {
		switch {
		case a.value != "":
			sp.SetString(a.name, a.value)
		case a.header != "":
			sp.SetString(a.name, r.Header.Get(a.header))
		case a.expr != nil:
			v, err := a.expr.Eval(r.Context(), act)
			if err != nil {
				sp.SetString(a.name, "error: "+err.Error())
				continue
			}
			switch v := v.(type) {
			case string:
				sp.SetString(a.name, v)
			case int64:
				sp.SetInt(a.name, v)
			default:
				b, err := json.Marshal(v)
				if err != nil {
					b = []byte(fmt.Sprint(v))
				}
				sp.SetString(a.name, string(b))
			}
		}
	}
	ex.span, ex.tracer, ex.trace = sp, lt, c.TraceID
	return r.WithContext(tracing.ContextWith(r.Context(), sp))
}

func protocolVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	if r.ProtoMinor == 0 {
		return "1.0"
	}
	return "1.1"
}

// endSpan ends the request's server span, if it has one.
func (ex *exchange) endSpan(status int, listener, route string) {
	sp := ex.span
	if sp == nil {
		return
	}
	ex.span = nil
	sp.SetInt("http.response.status_code", int64(status))
	sp.SetString("agentgateway.listener", listener)
	if route != "" {
		sp.SetString("agentgateway.route", route)
	}
	if status >= 500 {
		sp.SetString("error.type", strconv.Itoa(status))
		sp.SetError("")
	}
	for _, a := range ex.tracer.attrs {
		if a.attribute != "" {
			sp.CopyAttr(a.attribute, a.name)
		}
	}
	sp.Finish()
}

// traceID returns the request's trace id in hex, or "" when the request
// is not traced. It stays valid after the span ended (access logs).
func (ex *exchange) traceID() string {
	if !ex.trace.IsValid() {
		return ""
	}
	return ex.trace.String()
}

// exporterSet keeps the OTLP exporters across reloads, keyed by their
// settings: a config is built with a staged copy (stage), takes its
// exporters from it (get) and on commit the exporters it did not use are
// closed; a discarded build closes those it created.
type exporterSet struct {
	metrics *tracing.Metrics
	// backend returns the serving graph's backend of that name, so an
	// exporter to a backend follows its endpoints across reloads.
	backend func(name string) *upstream.Backend

	mu      sync.Mutex
	all     map[string]*tracing.Exporter
	used    map[string]bool
	created []string
}

func newExporterSet(reg prometheus.Registerer, backend func(string) *upstream.Backend) *exporterSet {
	return &exporterSet{metrics: tracing.NewMetrics(reg), backend: backend, all: map[string]*tracing.Exporter{}, used: map[string]bool{}}
}

func (s *exporterSet) stage() *exporterSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &exporterSet{metrics: s.metrics, backend: s.backend, all: map[string]*tracing.Exporter{}, used: map[string]bool{}}
	for k, e := range s.all {
		st.all[k] = e
	}
	return st
}

// exporterKey is what must stay equal for an exporter to be kept.
type exporterKey struct {
	Backend, Address, Path string
	Protocol               config.TracingProtocol
	Headers                []config.TracingHeader
	Queue, Batch           int
	Interval               *config.Duration
	TLS                    bool
}

func (s *exporterSet) get(c *config.Tracing, env *buildEnv) (*tracing.Exporter, error) {
	k := exporterKey{Backend: c.Backend, Address: c.Address, Path: c.Path, Protocol: c.Protocol, Headers: c.Headers,
		Queue: c.QueueSize, Batch: c.BatchSize, Interval: c.BatchInterval}
	var be *upstream.Backend
	if c.Backend != "" {
		be = env.backends[c.Backend]
		if be == nil {
			return nil, fmt.Errorf("tracing backend %q is not defined", c.Backend)
		}
		k.TLS = be.Scheme() == "https"
	}
	kb, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	key := string(kb)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.all[key]; ok {
		s.used[key] = true
		return e, nil
	}
	e, err := s.build(c, be)
	if err != nil {
		return nil, err
	}
	s.all[key], s.used[key] = e, true
	s.created = append(s.created, key)
	return e, nil
}

var errNoTracingBackend = errors.New("the tracing backend is not in the serving config")

func (s *exporterSet) build(c *config.Tracing, be *upstream.Backend) (*tracing.Exporter, error) {
	var headers []tracing.Header
	for _, h := range c.Headers {
		headers = append(headers, tracing.Header{Name: h.Name, Value: h.Value})
	}
	endpoint, name := c.Address, c.Backend
	if name != "" {
		endpoint = "backend/" + name
	}
	opts := tracing.ExporterOptions{QueueSize: c.QueueSize, BatchSize: c.BatchSize}
	if c.BatchInterval != nil {
		opts.Interval = c.BatchInterval.Duration
	}
	var sender tracing.Sender
	if c.Protocol == config.TracingHTTP {
		path := c.Path
		if path == "" {
			path = "/v1/traces"
		}
		o := tracing.HTTPOptions{URL: "http://" + c.Address + path, Headers: headers}
		if name != "" {
			// The backend picks the endpoint and brings its TLS.
			o.URL = be.Scheme() + "://" + name + path
			o.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				b := s.backend(name)
				if b == nil {
					return nil, errNoTracingBackend
				}
				return b.RoundTrip(r)
			})
		}
		sender = tracing.NewHTTPSender(o)
	} else {
		o := tracing.GRPCOptions{Address: c.Address, Headers: headers}
		if name != "" {
			o.Address = name
			if be.Scheme() == "https" {
				o.TLS = be.ClientTLS()
			}
			o.Dial = func(ctx context.Context, _ string) (net.Conn, error) {
				b := s.backend(name)
				if b == nil {
					return nil, errNoTracingBackend
				}
				conn, _, err := b.Dial(ctx, "tcp")
				return conn, err
			}
		}
		var err error
		if sender, err = tracing.NewGRPCSender(o); err != nil {
			return nil, err
		}
	}
	return tracing.NewExporter(sender, endpoint, opts, s.metrics), nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// commit closes the exporters the new config does not use, after sending
// what they hold.
func (s *exporterSet) commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.all {
		if !s.used[k] {
			delete(s.all, k)
			go e.Close() //nolint:errcheck // closing an exporter only fails to close its connection, which is gone either way
		}
	}
	s.created = nil
}

// discard closes the exporters a discarded build created.
func (s *exporterSet) discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.created {
		go s.all[k].Close() //nolint:errcheck // as in commit
	}
}

// closeAll flushes and closes every exporter (runtime shutdown).
func (s *exporterSet) closeAll() {
	s.mu.Lock()
	all := s.all
	s.all = map[string]*tracing.Exporter{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Go(func() { e.Close() }) //nolint:errcheck // as in commit
	}
	wg.Wait()
}
