package configserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgateway/agentgateway-go/operator/collectors"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

// versionsKept bounds how many recent versions per Gateway are remembered to order
// acknowledgements; a proxy acking an older one is far behind anyway.
const versionsKept = 64

// forgetAfter is how long a disconnected proxy stays listed (its pod is likely gone).
const forgetAfter = 10 * time.Minute

// ProxyState is what the operator knows about one proxy pod.
type ProxyState struct {
	Pod, Namespace, Gateway, BuildVersion string
	Connected                             bool
	ConnectedSince, LastHeartbeat         time.Time
	// DisconnectedAt is when the stream ended (zero while Connected).
	DisconnectedAt             time.Time
	AckedVersion               string
	RejectedVersion, LastError string
	// LatestVersion is the Gateway's newest published version.
	LatestVersion string
}

// Server holds snapshots and proxy state. Create it with New; Run serves gRPC.
type Server struct {
	snaps  *configstream.Snapshots
	stream *configstream.Server
	log    *slog.Logger
	now    func() time.Time

	// OnChange, if set before Run, is called (without locks held) whenever a proxy's state
	// changes in a way status depends on: connect, disconnect, ack, nack. It must not block.
	// Use AddChangeListener when several parties need it.
	OnChange func(gateway types.NamespacedName)
	// RemoteProxies, if set, returns the proxies connected to other operator replicas (the
	// aggregated API's peer sync knows them). Programmed counts their acknowledgements too,
	// so the leader reports Programmed whichever replica a proxy is connected to.
	RemoteProxies func() []ProxyState
	// OnReject, if set before Run, is called for every NACK (to emit an Event). It must not
	// block.
	OnReject func(gateway types.NamespacedName, pod, version, reason string)
	// Certificate returns the serving certificate for each TLS handshake
	// (streamcert.Serving.GetCertificate). Required: the stream is only served over TLS.
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)

	listeners []func(types.NamespacedName)

	mu       sync.Mutex
	gateways map[types.NamespacedName]*gatewayState
	proxies  map[types.NamespacedName]*proxy // by pod

	metrics metrics
}

type gatewayState struct {
	seq      uint64            // sequence number of the latest publish
	latest   string            // its version
	versions map[string]uint64 // recent version -> sequence of its latest publish
	// published: recent version -> when it was first published (for the push latency).
	published map[string]time.Time
	// gen and genSeq: the Gateway generation of the latest publish and the sequence of the
	// first publish made at that generation; acking genSeq or later means the proxy runs a
	// config that reflects the Gateway as it is now.
	gen    int64
	genSeq uint64
}

type proxy struct {
	ProxyState
	stream configstream.StreamID
	gone   time.Time
}

type metrics struct {
	pushes      prometheus.Counter
	acks, nacks *prometheus.CounterVec
	ackLatency  prometheus.Histogram
	deltaPushes prometheus.Counter
	pushBytes   prometheus.Counter
	connected   prometheus.Gauge
	publishes   prometheus.Counter
}

// New returns a Server authenticating proxies with auth and registering its metrics with
// reg (nil skips registration).
func New(auth configstream.Authenticator, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		snaps:    configstream.NewSnapshots(),
		log:      log,
		now:      time.Now,
		gateways: map[types.NamespacedName]*gatewayState{},
		proxies:  map[types.NamespacedName]*proxy{},
		metrics: metrics{
			pushes:      prometheus.NewCounter(prometheus.CounterOpts{Name: "agentgateway_xds_pushes_total", Help: "Config versions sent to proxies."}),
			deltaPushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "agentgateway_xds_delta_pushes_total", Help: "Config versions sent to proxies as their changes from the version the proxy ran (the rest went whole)."}),
			pushBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "agentgateway_xds_push_bytes_total", Help: "Bytes of configs and deltas sent to proxies."}),
			acks:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentgateway_xds_acks_total", Help: "Config versions proxies applied (ACK), by the Gateway's namespace (gateway_namespace: namespace is the scrape target's) and name."}, []string{"gateway_namespace", "gateway"}),
			nacks:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentgateway_xds_nacks_total", Help: "Config versions proxies rejected (NACK), by the Gateway's namespace and name; each is a translator bug, and the proxy keeps serving its previous config."}, []string{"gateway_namespace", "gateway"}),
			ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:                            "agentgateway_xds_push_latency_seconds",
				Help:                            "Time from a config's publish (translation done) to a proxy acknowledging that version, one observation per proxy and version.",
				Buckets:                         prometheus.ExponentialBuckets(0.001, 2, 16),
				NativeHistogramBucketFactor:     1.1,
				NativeHistogramMaxBucketNumber:  100,
				NativeHistogramMinResetDuration: time.Hour,
			}),
			connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "agentgateway_xds_connected_proxies", Help: "Proxies holding a config stream to this replica."}),
			publishes: prometheus.NewCounter(prometheus.CounterOpts{Name: "agentgateway_xds_snapshot_changes_total", Help: "Published Gateway configs that differed from the previous one."}),
		},
	}
	if reg != nil {
		m := &s.metrics
		var errs []error
		m.pushes, errs = collectors.Register(reg, m.pushes, errs)
		m.deltaPushes, errs = collectors.Register(reg, m.deltaPushes, errs)
		m.pushBytes, errs = collectors.Register(reg, m.pushBytes, errs)
		m.acks, errs = collectors.Register(reg, m.acks, errs)
		m.nacks, errs = collectors.Register(reg, m.nacks, errs)
		m.ackLatency, errs = collectors.Register(reg, m.ackLatency, errs)
		m.connected, errs = collectors.Register(reg, m.connected, errs)
		m.publishes, errs = collectors.Register(reg, m.publishes, errs)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("register config server metrics: %w", err)
		}
	}
	s.stream = configstream.NewServer(s.snaps, auth, (*observer)(s), log)
	return s, nil
}

// Publish makes cfg the config of gateway, computed from the Gateway at generation. A nil
// cfg removes the Gateway (its proxies keep what they run). enc is cfg cut into pieces
// (configdelta.Encode, as translation makes it) or nil to have Publish make it;
// cfg.Version is set to the content hash. A cfg that carries the version published last
// changed nothing and is not encoded. Publish reports whether anything changed.
func (s *Server) Publish(gateway types.NamespacedName, generation int64, cfg *config.Config, enc *configdelta.Encoded) (bool, error) {
	key := configstream.GatewayKey{Namespace: gateway.Namespace, Name: gateway.Name}
	if cfg == nil {
		s.mu.Lock()
		delete(s.gateways, gateway)
		s.mu.Unlock()
		return s.snaps.SetEncoded(key, nil, nil), nil
	}
	// A config that carries the version of the one published last (translation computes
	// the same content hash) changed nothing: no encoding, only the generation it reflects.
	// Every reconcile publishes every Gateway, and most of them did not change.
	if cfg.Version != "" {
		s.mu.Lock()
		if g := s.gateways[gateway]; g != nil && g.latest == cfg.Version {
			if generation != g.gen {
				g.gen, g.genSeq = generation, g.seq
			}
			s.mu.Unlock()
			return false, nil
		}
		s.mu.Unlock()
	}
	if enc == nil || enc.Version != cfg.Version {
		var err error
		if enc, err = configdelta.Encode(cfg); err != nil {
			return false, fmt.Errorf("publish config of gateway %s: %w", gateway, err)
		}
	}
	v := enc.Version
	cfg.Version = v

	s.mu.Lock()
	g := s.gateways[gateway]
	if g == nil {
		g = &gatewayState{versions: map[string]uint64{}, published: map[string]time.Time{}}
		s.gateways[gateway] = g
	}
	if g.latest != v {
		g.seq++
		g.latest = v
		g.versions[v] = g.seq
		if _, ok := g.published[v]; !ok {
			g.published[v] = s.now()
		}
		if len(g.versions) > versionsKept {
			for ver, seq := range g.versions {
				if seq+versionsKept <= g.seq {
					delete(g.versions, ver)
					delete(g.published, ver)
				}
			}
		}
	}
	if generation != g.gen {
		g.gen, g.genSeq = generation, g.seq
	}
	s.mu.Unlock()

	changed := s.snaps.SetEncoded(key, cfg, enc)
	if changed {
		s.metrics.publishes.Inc()
	}
	return changed, nil
}

// Programmed reports whether a connected proxy of gateway acknowledged a config that
// reflects the Gateway at generation, and if not, why (for the condition message).
func (s *Server) Programmed(gateway types.NamespacedName, generation int64) (bool, string) {
	var remote []ProxyState
	if s.RemoteProxies != nil {
		// Outside the lock: the callee may well call back into Proxies.
		remote = s.RemoteProxies()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[gateway]
	if g == nil || g.gen != generation {
		return false, "config for this generation is not published yet"
	}
	connected := 0
	var rejected string
	all := make([]ProxyState, 0, len(s.proxies))
	for _, p := range s.proxies {
		all = append(all, p.ProxyState)
	}
	// Versions are content hashes, equal on every replica, so a peer's acked version maps
	// onto this replica's publish order.
	all = append(all, remote...)
	for _, p := range all {
		if p.Namespace != gateway.Namespace || p.Gateway != gateway.Name || !p.Connected {
			continue
		}
		connected++
		if seq, ok := g.versions[p.AckedVersion]; ok && seq >= g.genSeq {
			return true, ""
		}
		if p.RejectedVersion == g.latest {
			rejected = fmt.Sprintf("proxy %s rejected config %s: %s", p.Pod, p.RejectedVersion, p.LastError)
		}
	}
	switch {
	case rejected != "":
		return false, rejected
	case connected == 0:
		return false, "no proxy is connected yet"
	default:
		return false, fmt.Sprintf("waiting for %d connected proxies to apply config %s", connected, g.latest)
	}
}

// LatestVersion is the newest published version of gateway ("" if none).
func (s *Server) LatestVersion(gateway types.NamespacedName) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.gateways[gateway]; g != nil {
		return g.latest
	}
	return ""
}

// Config returns the published config of gateway (nil if none). It is shared: don't modify it.
func (s *Server) Config(gateway types.NamespacedName) *config.Config {
	c, _ := s.snaps.Get(configstream.GatewayKey{Namespace: gateway.Namespace, Name: gateway.Name})
	return c
}

// Proxies lists every known proxy, sorted by namespace and pod, for proxystatuses.
func (s *Server) Proxies() []ProxyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]ProxyState, 0, len(s.proxies))
	for k, p := range s.proxies {
		if !p.Connected && now.Sub(p.gone) > forgetAfter {
			delete(s.proxies, k)
			continue
		}
		st := p.ProxyState
		if g := s.gateways[types.NamespacedName{Namespace: p.Namespace, Name: p.Gateway}]; g != nil {
			st.LatestVersion = g.latest
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Pod < out[j].Pod
	})
	return out
}

// Connected is the number of proxies connected to this replica now.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.proxies {
		if p.Connected {
			n++
		}
	}
	return n
}

// ConnectedTo is the number of proxies of gateway connected to this replica now.
func (s *Server) ConnectedTo(gateway types.NamespacedName) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.proxies {
		if p.Connected && p.Namespace == gateway.Namespace && p.Gateway == gateway.Name {
			n++
		}
	}
	return n
}

// Run serves the config stream over TLS on addr until ctx is cancelled, then stops gracefully
// (streams are long-lived, so after a grace period they are cut; proxies reconnect to
// another replica and keep serving meanwhile).
func (s *Server) Run(ctx context.Context, addr string) error {
	if s.Certificate == nil {
		return errors.New("config server: no serving certificate (Certificate is nil); the stream is never served in plaintext")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("config server: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Certificate == nil {
		return errors.New("config server: no serving certificate (Certificate is nil); the stream is never served in plaintext")
	}
	g := grpc.NewServer(append(configstream.ServerOptions(), configstream.ServerTLS(s.Certificate))...)
	s.stream.Register(g)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	s.log.Info("config server listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("config server: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		g.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("config server: %w", err)
	}
	return nil
}

// observer receives stream events; a named type keeps these methods off Server's API.
type observer Server

func (o *observer) update(id configstream.StreamID, n configstream.Node, f func(p *proxy)) {
	s := (*Server)(o)
	key := types.NamespacedName{Namespace: n.Namespace, Name: n.Pod}
	s.mu.Lock()
	p := s.proxies[key]
	// A stale stream of a pod that already reconnected must not overwrite the new one.
	if p != nil && p.stream == id {
		f(p)
	}
	s.mu.Unlock()
}

func (o *observer) changed(n configstream.Node) {
	gw := types.NamespacedName{Namespace: n.Namespace, Name: n.Gateway}
	if o.OnChange != nil {
		o.OnChange(gw)
	}
	for _, f := range o.listeners {
		f(gw)
	}
}

// NotifyRemoteChange tells the change listeners that proxies connected to other replicas
// changed (RemoteProxies answers differently now), so status is recomputed for gateway.
func (s *Server) NotifyRemoteChange(gateway types.NamespacedName) {
	(*observer)(s).changed(configstream.Node{Namespace: gateway.Namespace, Gateway: gateway.Name})
}

// AddChangeListener adds f to the functions called like OnChange. Call it before Run.
func (s *Server) AddChangeListener(f func(gateway types.NamespacedName)) {
	s.listeners = append(s.listeners, f)
}

func (o *observer) Connected(id configstream.StreamID, n configstream.Node, running string) {
	s := (*Server)(o)
	now := s.now()
	s.mu.Lock()
	key := types.NamespacedName{Namespace: n.Namespace, Name: n.Pod}
	prev := s.proxies[key]
	p := &proxy{stream: id, ProxyState: ProxyState{
		Pod: n.Pod, Namespace: n.Namespace, Gateway: n.Gateway, BuildVersion: n.BuildVersion,
		Connected: true, ConnectedSince: now, LastHeartbeat: now, AckedVersion: running,
	}}
	if prev != nil {
		p.RejectedVersion, p.LastError = prev.RejectedVersion, prev.LastError
	}
	s.proxies[key] = p
	s.mu.Unlock()
	s.metrics.connected.Inc()
	o.changed(n)
}

func (o *observer) Heartbeat(id configstream.StreamID, n configstream.Node) {
	now := o.now()
	o.update(id, n, func(p *proxy) { p.LastHeartbeat = now })
}

func (o *observer) Pushed(_ configstream.StreamID, _ configstream.Node, p configstream.Push) {
	o.metrics.pushes.Inc()
	o.metrics.pushBytes.Add(float64(p.Bytes))
	if p.Delta {
		o.metrics.deltaPushes.Inc()
	}
}

func (o *observer) Acked(id configstream.StreamID, n configstream.Node, version string) {
	o.metrics.acks.WithLabelValues(n.Namespace, n.Gateway).Inc()
	o.mu.Lock()
	if g := o.gateways[types.NamespacedName{Namespace: n.Namespace, Name: n.Gateway}]; g != nil {
		if at, ok := g.published[version]; ok {
			o.metrics.ackLatency.Observe(o.now().Sub(at).Seconds())
		}
	}
	o.mu.Unlock()
	o.update(id, n, func(p *proxy) { p.AckedVersion = version })
	o.changed(n)
}

func (o *observer) Nacked(id configstream.StreamID, n configstream.Node, version, reason string) {
	o.metrics.nacks.WithLabelValues(n.Namespace, n.Gateway).Inc()
	o.update(id, n, func(p *proxy) { p.RejectedVersion, p.LastError = version, reason })
	if o.OnReject != nil {
		o.OnReject(types.NamespacedName{Namespace: n.Namespace, Name: n.Gateway}, n.Pod, version, reason)
	}
	o.changed(n)
}

func (o *observer) Disconnected(id configstream.StreamID, n configstream.Node, _ error) {
	now := o.now()
	o.metrics.connected.Dec()
	o.update(id, n, func(p *proxy) { p.Connected, p.gone, p.DisconnectedAt = false, now, now })
	o.changed(n)
}
