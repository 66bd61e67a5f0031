package dataplane

import (
	"crypto/tls"
	"fmt"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/h3"
	"github.com/agentgateway/agentgateway-go/proxy/router"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// graph is one compiled config: everything a request needs, immutable once
// built and published with an atomic pointer swap. Requests that started on
// an older graph finish on it.
type graph struct {
	// generation numbers the applied configs (generation.go); 0 is the
	// empty graph before the first Apply.
	generation uint64
	config     *config.Config
	binds      map[string]*bindState
	backends   map[string]*upstream.Backend
}

type bindState struct {
	config    *config.Bind
	listeners router.HostIndex[*listenerState]
	first     *listenerState
	// altSvc is the Alt-Svc header value advertising HTTP/3, or "".
	altSvc string
}

type listenerState struct {
	config *config.Listener
	table  *router.Table[*ruleHandler]
	tls    *tls.Config // HTTPS and terminating TLS listeners
	// accessLog, when set, logs every request (accesslog.go).
	accessLog *accessLog
	// preRouting, when set, runs before the route lookup (prerouting.go).
	preRouting preRouting
	// tracing, when set, traces the listener's requests (tracing.go).
	tracing *listenerTracing
}

// compile builds a graph from a validated config, reusing the compiled rules
// of unchanged routes found by plan (routecache.go; nil builds everything).
func compile(c *config.Config, env *buildEnv, plan *routePlan) (*graph, error) {
	g := &graph{config: c, binds: map[string]*bindState{}, backends: env.backends}
	for bi := range c.Binds {
		b := &c.Binds[bi]
		bs := &bindState{config: b}
		if b.HTTP3 {
			bs.altSvc = h3.AltSvcValue(b.Port)
		}
		for li := range b.Listeners {
			l := &b.Listeners[li]
			al, err := newAccessLog(l.AccessLog)
			if err != nil {
				return nil, fmt.Errorf("listener %s access log: %w", l.Name, err)
			}
			pr, err := newPreRouting(l.PreRouting, env)
			if err != nil {
				return nil, fmt.Errorf("bind %s listener %s: %w", b.Name, l.Name, err)
			}
			lt, err := newListenerTracing(l.Tracing, env)
			if err != nil {
				return nil, fmt.Errorf("bind %s listener %s tracing: %w", b.Name, l.Name, err)
			}
			ls := &listenerState{config: l, accessLog: al, preRouting: pr, tracing: lt}
			if l.TLS != nil && l.TLS.Mode != config.TLSModePassthrough {
				var t *tls.Config
				var err error
				// The config counts its handshakes (metrics.go).
				counted := func(t *tls.Config) *tls.Config { return env.metrics.countHandshakes(t, b.Name, l.Name) }
				if plan != nil {
					t, err = plan.serverTLS(listenerID{b.Name, l.Name}, l.TLS, b.Protocol == config.ProtocolHTTPS, counted)
				} else if t, err = serverTLS(l.TLS, b.Protocol == config.ProtocolHTTPS); err == nil {
					t = counted(t)
				}
				if err != nil {
					return nil, fmt.Errorf("bind %s listener %s: %w", b.Name, l.Name, err)
				}
				ls.tls = t
			}
			if b.Protocol == config.ProtocolHTTP || b.Protocol == config.ProtocolHTTPS {
				var es []*compiledRoute
				if plan != nil {
					es = plan.byListener[l]
				}
				cur := 0
				tbl, err := router.Build(l, func(r *config.HTTPRoute, i int) (*ruleHandler, error) {
					if ri := routeIndex(l.HTTPRoutes, r, &cur); es != nil && ri >= 0 && es[ri] != nil {
						return plan.rule(env, es, ri, i)
					}
					return buildRule(env, r, i)
				})
				if err != nil {
					return nil, fmt.Errorf("bind %s listener %s: %w", b.Name, l.Name, err)
				}
				ls.table = tbl
			}
			bs.listeners.Add(l.Hostname, ls)
			if bs.first == nil {
				bs.first = ls
			}
		}
		g.binds[b.Name] = bs
	}
	return g, nil
}

// serverTLS builds the tls.Config a listener's handshakes use. With several
// certificates crypto/tls picks the first one valid for the client's SNI.
func serverTLS(t *config.ListenerTLS, http bool) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.MinVersion == "1.3" {
		conf.MinVersion = tls.VersionTLS13
	}
	for i, c := range t.Certificates {
		pair, err := tls.X509KeyPair([]byte(c.CertChain), []byte(c.PrivateKey))
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		conf.Certificates = append(conf.Certificates, pair)
	}
	for _, name := range t.CipherSuites {
		id, err := config.CipherSuite(name)
		if err != nil {
			return nil, err
		}
		conf.CipherSuites = append(conf.CipherSuites, id)
	}
	conf.NextProtos = t.ALPN
	if len(conf.NextProtos) == 0 && http {
		conf.NextProtos = []string{"h2", "http/1.1"}
	}
	if cv := t.ClientValidation; cv != nil {
		pool, err := config.ParseCAs(cv.CACertificates)
		if err != nil {
			return nil, fmt.Errorf("client validation: %w", err)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
		if cv.Mode == config.ClientValidationAllowInsecureFallback {
			// The Gateway API's insecure fallback admits a connection whose certificate is
			// missing or fails validation; the certificate is still requested.
			conf.ClientAuth = tls.RequestClientCert
		}
	}
	return conf, nil
}

// listenerFor picks the listener for a normalized host (or SNI): the most
// specific hostname match.
func (bs *bindState) listenerFor(host string) (*listenerState, bool) {
	return bs.listeners.Lookup(host)
}
