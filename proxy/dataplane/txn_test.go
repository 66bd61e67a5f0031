package dataplane

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/quic-go/quic-go/http3"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/config/testcerts"
	"github.com/agentgateway/agentgateway-go/proxy/policy/callout"
)

// servingState is what a rejected config must leave exactly as it was.
type servingState struct {
	dump       string   // Runtime.Current() as JSON (the admin config dump)
	generation uint64   // Runtime.Generation()
	version    string   // its version
	sockets    []string // this process's sockets on the proxy's ports, with descriptor counts
	internal   []string // the runtime's own state Apply changes
	metrics    string   // ConfigInfo, ActiveListeners and the generation gauge
}

// captureState reads the serving state; ports are the proxy's ports.
func captureState(t *testing.T, rt *Runtime, ports ...int) servingState {
	t.Helper()
	dump, err := json.Marshal(rt.Current())
	if err != nil {
		t.Fatal(err)
	}
	n, v := rt.Generation()
	return servingState{dump: string(dump), generation: n, version: v, sockets: ownSockets(t, ports),
		internal: internalState(rt), metrics: servingMetrics(t, rt)}
}

func (s servingState) diff(t *testing.T, after servingState) {
	t.Helper()
	if s.dump != after.dump {
		t.Errorf("config dump changed:\nbefore %s\nafter  %s", s.dump, after.dump)
	}
	if s.generation != after.generation || s.version != after.version {
		t.Errorf("generation %d %q became %d %q", s.generation, s.version, after.generation, after.version)
	}
	if !slices.Equal(s.sockets, after.sockets) {
		t.Errorf("sockets changed:\nbefore %q\nafter  %q", s.sockets, after.sockets)
	}
	if !slices.Equal(s.internal, after.internal) {
		t.Errorf("runtime state changed:\nbefore %q\nafter  %q", s.internal, after.internal)
	}
	if s.metrics != after.metrics {
		t.Errorf("metrics changed:\nbefore %s\nafter  %s", s.metrics, after.metrics)
	}
}

// ownSockets lists the sockets of this process on ports, from /proc: one
// entry per socket (listening TCP, bound UDP) with the number of this
// process's descriptors that refer to it, so a leaked duplicate shows.
func ownSockets(t *testing.T, ports []int) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]int{} // socket inode -> descriptors
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue // the descriptor ReadDir used, closed since
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			refs[strings.TrimSuffix(inode, "]")]++
		}
	}
	want := map[string]bool{}
	for _, p := range ports {
		want[fmt.Sprintf("%04X", p)] = true
	}
	var out []string
	for _, table := range []struct{ file, state string }{
		{"tcp", "0A"}, {"tcp6", "0A"}, // LISTEN
		{"udp", "07"}, {"udp6", "07"}, // unconnected
	} {
		data, err := os.ReadFile("/proc/self/net/" + table.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != table.state {
				continue
			}
			_, port, _ := strings.Cut(f[1], ":")
			if n := refs[f[9]]; want[port] && n > 0 {
				p, err := strconv.ParseUint(port, 16, 16)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%s port %d inode %s fds %d", table.file, p, f[9], n))
			}
		}
	}
	slices.Sort(out)
	return out
}

// internalState describes, by identity, everything Apply swaps or changes:
// servers and their sockets, the graph and its backends, the limiter,
// retry budget and ext-auth connection sets (with each connection's drain
// grace) and the route cache.
func internalState(rt *Runtime) []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := []string{fmt.Sprintf("graph %p", rt.graph.Load())}
	for name, s := range rt.servers {
		out = append(out, fmt.Sprintf("server %s %p ln %p pc %p h3 %p state %p", name, s, s.ln, s.pc, s.h3pc, s.state.Load()))
	}
	for name, b := range rt.graph.Load().backends {
		out = append(out, fmt.Sprintf("backend %s %p", name, b))
	}
	for k, l := range rt.limits.Snapshot() {
		out = append(out, fmt.Sprintf("limiter %q %p", k, l))
	}
	for k, b := range rt.budgets.Snapshot() {
		out = append(out, fmt.Sprintf("budget %q %p", k, b))
	}
	for _, c := range rt.authz.Snapshot() {
		out = append(out, fmt.Sprintf("ext-auth %s %p grace %s closed %t", c.Backend, c.Conn, c.Grace, c.Closed))
	}
	for id, es := range rt.routes.serving {
		for _, e := range es {
			out = append(out, fmt.Sprintf("route %s/%s %p", id.bind, id.listener, e))
		}
	}
	for id, e := range rt.routes.tls {
		out = append(out, fmt.Sprintf("tls %s/%s %p", id.bind, id.listener, e))
	}
	out = append(out, fmt.Sprintf("validation context %p", rt.routes.ctx))
	slices.Sort(out)
	return out
}

func servingMetrics(t *testing.T, rt *Runtime) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(rt.metrics.ConfigInfo, rt.metrics.ActiveListeners, rt.genMetrics.number)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		fmt.Fprintln(&b, mf.String())
	}
	return b.String()
}

// waitSockets waits for this process's sockets on ports to be want: a
// replaced server closes its descriptors while it shuts down.
func waitSockets(t *testing.T, ports []int, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ownSockets(t, ports)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sockets:\n%q\nwant %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGoroutines waits for the goroutine count to come back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// takenPort is a port another socket of this process listens on (TCP and
// UDP), standing for another program's.
func takenPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// freeUDPPort is a port free for UDP (and, on loopback, usually for TCP).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// freeTCPUDPPort returns a port free for both TCP and UDP on loopback, for
// an HTTPS bind with HTTP/3 (a UDP-free port may have its TCP number taken
// by another test's connection).
func freeTCPUDPPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			if err := pc.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if cerr := ln.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err == nil {
			return port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP in 100 tries")
	return 0
}

func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(append([]byte("udp:"), buf[:n]...), from); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func udpRoundTrip(t *testing.T, port int, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("udp %d: %v", port, err)
	}
	return string(buf[:n])
}

func tcpRoundTrip(t *testing.T, port int, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("tcp %d: %v", port, err)
	}
	return strings.TrimSuffix(line, "\n")
}

// txnProxy is a proxy with an HTTP bind behind gRPC ext-auth, an HTTPS
// bind, a TCP bind and a UDP bind, each with a live backend.
type txnProxy struct {
	rt                                    *Runtime
	ca                                    *testcerts.CA
	httpPort, httpsPort, tcpPort, udpPort int
	backendAddr, authzAddr, tcpAddr       string
	udpAddr                               string
	cert                                  config.Certificate
}

func startTxnProxy(t *testing.T) *txnProxy {
	t.Helper()
	p := &txnProxy{rt: newRuntime(t), ca: testcerts.NewCA("txn-ca")}
	p.backendAddr = startBackend(t, "a", false).addr
	p.authzAddr = startAuthz(t).addr
	p.tcpAddr = tcpEcho(t, "tcp", nil)
	p.udpAddr = udpEcho(t)
	p.cert = cert(p.ca.Issue("secure.example.com"))
	p.httpPort, p.httpsPort, p.tcpPort, p.udpPort = freePort(t), freePort(t), freePort(t), freeUDPPort(t)
	mustApply(t, p.rt, p.config("1", time.Second))
	return p
}

// config is the proxy's config; authTimeout is the ext-auth check timeout.
func (p *txnProxy) config(version string, authTimeout time.Duration) *config.Config {
	authz := be("authz", p.authzAddr)
	authz.Protocol = config.BackendH2C
	return &config.Config{
		Version: version,
		Binds: []config.Bind{
			httpBind("http", p.httpPort, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
				config.HTTPRouteRule{Matches: pathPrefix("/"), BackendRefs: to("a"), Traffic: &config.TrafficPolicy{
					ExtAuth: &config.ExtAuth{Backend: "authz", Protocol: config.ExtAuthGRPC, Timeout: &config.Duration{Duration: authTimeout}},
				}})}}),
			{Name: "https", Address: "127.0.0.1", Port: p.httpsPort, Protocol: config.ProtocolHTTPS, Listeners: []config.Listener{{
				Name: "secure", Hostname: "secure.example.com", Protocol: config.ProtocolHTTPS,
				TLS:        &config.ListenerTLS{Certificates: []config.Certificate{p.cert}},
				HTTPRoutes: []config.HTTPRoute{hroute("s", nil, config.HTTPRouteRule{BackendRefs: to("a")})}}}},
			{Name: "tcp", Address: "127.0.0.1", Port: p.tcpPort, Protocol: config.ProtocolTCP, Listeners: []config.Listener{{
				Name: "tcp", Protocol: config.ProtocolTCP, L4Routes: []config.L4Route{l4route("t", nil, "tcp")}}}},
			{Name: "udp", Address: "127.0.0.1", Port: p.udpPort, Protocol: config.ProtocolUDP, Listeners: []config.Listener{{
				Name: "udp", Protocol: config.ProtocolUDP, L4Routes: []config.L4Route{l4route("u", nil, "udp")}}}},
		},
		Backends: []config.Backend{be("a", p.backendAddr), authz,
			{Name: "tcp", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: p.tcpAddr}}},
			{Name: "udp", Protocol: config.BackendTCP, Endpoints: []config.Endpoint{{Address: p.udpAddr}}},
		},
	}
}

func (p *txnProxy) ports() []int { return []int{p.httpPort, p.httpsPort, p.tcpPort, p.udpPort} }

// checkTraffic sends a request through every bind.
func (p *txnProxy) checkTraffic(t *testing.T) {
	t.Helper()
	c := noRedirect()
	defer c.CloseIdleConnections()
	if r := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/x", p.httpPort), "", "X-Case", "allow"); r.code != 200 || r.echo.Backend != "a" {
		t.Errorf("http through ext auth: %d %s", r.code, r.body)
	}
	hc := tlsClient(p.ca, p.httpsPort, false)
	defer hc.CloseIdleConnections()
	if r := get(t, hc, "https://secure.example.com/", ""); r.code != 200 || r.echo.Backend != "a" {
		t.Errorf("https: %d %s", r.code, r.body)
	}
	if got := tcpRoundTrip(t, p.tcpPort, "hi"); got != "tcp:hi" {
		t.Errorf("tcp: %q", got)
	}
	if got := udpRoundTrip(t, p.udpPort, "ping"); got != "udp:ping" {
		t.Errorf("udp: %q", got)
	}
}

// TestRejectedConfigLeavesServingUntouched applies configs that fail half
// way, each changing the ext-auth policy (a longer check timeout) and the
// binds, and checks that the proxy serves exactly as before: the same
// config dump, generation, sockets (no descriptor left open or closed),
// runtime state (ext-auth connection grace included) and metrics, traffic
// through every bind, and no goroutine left behind.
func TestRejectedConfigLeavesServingUntouched(t *testing.T) {
	p := startTxnProxy(t)
	p.checkTraffic(t)
	taken := takenPort(t)

	cases := map[string]struct {
		change func(c *config.Config)
		err    string // in the error: the config failed where the case means it to
	}{
		// Validation fails on the last listener, after everything else of
		// the config was looked at.
		"bad certificate in the last listener": {func(c *config.Config) {
			last := &c.Binds[1].Listeners[len(c.Binds[1].Listeners)-1]
			last.TLS.Certificates[0].PrivateKey = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
		}, "certificate"},
		// The config compiles; its last new bind cannot bind its port. Before
		// that, the renamed binds took over the sockets of the binds they
		// replace (HTTPS, UDP) and a new bind opened a free port.
		"port taken": {func(c *config.Config) {
			c.Binds[1].Name = "https-renamed"
			c.Binds[3].Name = "udp-renamed"
			extra := httpBind("extra", freePort(t), config.Listener{Name: "x", HTTPRoutes: []config.HTTPRoute{hroute("x", nil,
				config.HTTPRouteRule{BackendRefs: to("new")})}})
			c.Binds = append(c.Binds, extra, httpBind("taken", taken, config.Listener{Name: "x"}))
			c.Backends = append(c.Backends, be("new", p.backendAddr))
		}, "bind taken: listen"},
		// The same, with the protocol of a bind changed on its port.
		"protocol changed, port taken": {func(c *config.Config) {
			c.Binds[2].Protocol = config.ProtocolTLS
			c.Binds[2].Listeners[0].Protocol = config.ProtocolTLS
			c.Binds[2].Listeners[0].TLS = &config.ListenerTLS{Mode: config.TLSModePassthrough}
			c.Binds = append(c.Binds, httpBind("taken", taken, config.Listener{Name: "x"}))
		}, "bind taken: listen"},
	}
	for _, name := range []string{"bad certificate in the last listener", "port taken", "protocol changed, port taken"} {
		t.Run(name, func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			before := captureState(t, p.rt, p.ports()...)
			failed := testutil.ToFloat64(p.rt.metrics.Reloads.WithLabelValues("failed"))
			ok := testutil.ToFloat64(p.rt.metrics.Reloads.WithLabelValues("ok"))

			bad := p.config("2", time.Hour)
			cases[name].change(bad)
			err := p.rt.Apply(bad)
			if err == nil {
				t.Fatal("the config was applied")
			}
			if !strings.Contains(err.Error(), cases[name].err) {
				t.Fatalf("rejected for another reason than the case's: %v", err)
			}

			before.diff(t, captureState(t, p.rt, p.ports()...))
			waitGoroutines(t, goroutines)
			if got := testutil.ToFloat64(p.rt.metrics.Reloads.WithLabelValues("failed")); got != failed+1 {
				t.Errorf("failed reloads %v, want %v", got, failed+1)
			}
			if got := testutil.ToFloat64(p.rt.metrics.Reloads.WithLabelValues("ok")); got != ok {
				t.Errorf("ok reloads %v, want %v", got, ok)
			}
			p.checkTraffic(t)
		})
	}

	// The proxy still takes a good config afterwards, and the renamed
	// binds take over their sockets.
	good := p.config("3", time.Second)
	good.Binds[1].Name = "https-renamed"
	good.Binds[3].Name = "udp-renamed"
	mustApply(t, p.rt, good)
	if n, v := p.rt.Generation(); n != 2 || v != "3" {
		t.Errorf("generation %d %q, want 2 \"3\"", n, v)
	}
	p.checkTraffic(t)
}

// TestRejectedConfigKeepsExtAuthGrace: a rejected config with a longer
// ext-auth check timeout must not lengthen how long the connection of the
// serving config stays open once a later config drops it.
func TestRejectedConfigKeepsExtAuthGrace(t *testing.T) {
	p := startTxnProxy(t)
	p.checkTraffic(t) // opens the ext-auth connection
	var conn *callout.Conn
	for _, c := range p.rt.authz.Snapshot() {
		conn = c.Conn
	}
	if conn == nil {
		t.Fatal("no ext-auth connection")
	}

	bad := p.config("2", time.Hour)
	bad.Binds = append(bad.Binds, httpBind("taken", takenPort(t), config.Listener{Name: "x"}))
	if err := p.rt.Apply(bad); err == nil {
		t.Fatal("the config was applied")
	}

	// A config without ext auth drops the connection: it closes once the
	// checks of the serving config (1s timeout) are over, plus a second.
	good := p.config("3", 0)
	good.Binds[0].Listeners[0].HTTPRoutes[0].Rules[0].Traffic = nil
	mustApply(t, p.rt, good)
	deadline := time.Now().Add(10 * time.Second)
	for !conn.Closed() {
		if time.Now().After(deadline) {
			t.Fatal("the dropped ext-auth connection is still open 10s later: its grace grew with the rejected config")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRenamedBindKeepsItsSocket: a bind that changes name or protocol on
// the same port takes over the socket of the bind it replaces, so the port
// is never closed, and the old socket's descriptor is released.
func TestRenamedBindKeepsItsSocket(t *testing.T) {
	p := startTxnProxy(t)
	p.checkTraffic(t)
	before := ownSockets(t, p.ports())

	c := p.config("2", time.Second)
	c.Binds[0].Name = "http-renamed"
	c.Binds[3].Name = "udp-renamed"
	mustApply(t, p.rt, c)
	p.checkTraffic(t)
	waitSockets(t, p.ports(), before)

	// HTTP becomes HTTPS on the same port.
	c = p.config("3", time.Second)
	c.Binds[0].Name = "http-renamed"
	c.Binds[3].Name = "udp-renamed"
	c.Binds[0].Protocol = config.ProtocolHTTPS
	c.Binds[0].Listeners[0].Protocol = config.ProtocolHTTPS
	c.Binds[0].Listeners[0].TLS = &config.ListenerTLS{Certificates: []config.Certificate{p.cert}}
	mustApply(t, p.rt, c)
	hc := tlsClient(p.ca, p.httpPort, false)
	defer hc.CloseIdleConnections()
	if r := get(t, hc, "https://secure.example.com/", "", "X-Case", "allow"); r.code != 200 {
		t.Errorf("https on the former http port: %d %s", r.code, r.body)
	}
	waitSockets(t, p.ports(), before)
}

// TestRenameUnderLoadRefusesNothing renames a bind back and forth while
// clients open new connections to it: the socket is handed over, so no
// connection is refused and every request is answered. (A connection the
// old server accepted just before the swap may be closed by its drain
// before its request is read, as net/http's Shutdown does; the client then
// sends the request again on a new connection.)
func TestRenameUnderLoadRefusesNothing(t *testing.T) {
	a := startBackend(t, "a", false)
	port := freePort(t)
	rt := newRuntime(t)
	cfg := func(version, name string) *config.Config {
		return &config.Config{Version: version,
			Binds: []config.Bind{httpBind(name, port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("r", nil,
				config.HTTPRouteRule{BackendRefs: to("a")})}})},
			Backends: []config.Backend{be("a", a.addr)}}
	}
	mustApply(t, rt, cfg("0", "bind-0"))

	stop := make(chan struct{})
	done := make(chan error, 1)
	served := make(chan struct{}, 1)
	var dropped int
	go func() {
		var d net.Dialer
		var dialErr atomic.Pointer[error]
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: func(ctx contextT, network, addr string) (net.Conn, error) {
				conn, err := d.DialContext(ctx, network, addr)
				if err != nil {
					dialErr.Store(&err)
				}
				return conn, err
			}}}
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			resp, err := c.Get(url)
			if err := dialErr.Load(); err != nil {
				done <- fmt.Errorf("connect: %w", *err)
				return
			}
			if err != nil {
				dropped++
				if dropped > 100 {
					done <- err
					return
				}
				continue
			}
			_, err = io.Copy(io.Discard, resp.Body)
			if cerr := resp.Body.Close(); err == nil {
				err = cerr
			}
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err != nil {
				done <- err
				return
			}
			select {
			case served <- struct{}{}:
			default:
			}
		}
	}()
	for i := 1; i <= 30; i++ {
		select {
		case <-served: // at least one request between two renames
		case err := <-done:
			t.Fatalf("a request failed while the bind was renamed (%d renames): %v", i-1, err)
		}
		if err := rt.Apply(cfg(strconv.Itoa(i), "bind-"+strconv.Itoa(i%2))); err != nil {
			close(stop)
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("a request failed while the bind was renamed: %v", err)
	}
	t.Logf("30 renames; %d connections closed by a draining server before their request was read", dropped)
}

// TestRenamedHTTP3BindKeepsItsSockets: an HTTPS bind with HTTP/3 hands its
// TCP and UDP sockets to the bind that replaces it, and takes them back
// from nothing when a config that renames it is rejected.
func TestRenamedHTTP3BindKeepsItsSockets(t *testing.T) {
	a := startBackend(t, "a", false)
	ca := testcerts.NewCA("h3-txn-ca")
	leaf := ca.Issue("h3.example.com")
	port := freeTCPUDPPort(t)
	rt := newRuntime(t)
	cfg := func(version, name string) *config.Config {
		return &config.Config{
			Version: version,
			Binds: []config.Bind{{Name: name, Address: "127.0.0.1", Port: port, Protocol: config.ProtocolHTTPS, HTTP3: true, Listeners: []config.Listener{{
				Name: "l", Hostname: "h3.example.com", Protocol: config.ProtocolHTTPS,
				TLS:        &config.ListenerTLS{Certificates: []config.Certificate{cert(leaf)}},
				HTTPRoutes: []config.HTTPRoute{hroute("r", nil, config.HTTPRouteRule{BackendRefs: to("a")})},
			}}}},
			Backends: []config.Backend{be("a", a.addr)},
		}
	}
	check := func() {
		t.Helper()
		hc := tlsClient(ca, port, false)
		defer hc.CloseIdleConnections()
		if r := get(t, hc, "https://h3.example.com/x", ""); r.code != 200 {
			t.Errorf("https: %d %s", r.code, r.body)
		}
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "h3.example.com"}}
		defer tr.Close()
		req, err := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/h3", port), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "h3.example.com"
		if r := do(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, req); r.code != 200 || r.echo.Backend != "a" {
			t.Errorf("h3: %d %s", r.code, r.body)
		}
	}
	mustApply(t, rt, cfg("1", "https"))
	check()
	sockets := ownSockets(t, []int{port})
	if len(sockets) != 2 {
		t.Fatalf("sockets on the port: %q, want a TCP and a UDP one", sockets)
	}

	bad := cfg("2", "https-renamed")
	bad.Binds = append(bad.Binds, httpBind("taken", takenPort(t), config.Listener{Name: "x"}))
	if err := rt.Apply(bad); err == nil {
		t.Fatal("the config was applied")
	}
	if got := ownSockets(t, []int{port}); !slices.Equal(got, sockets) {
		t.Errorf("sockets after a rejected rename:\n%q\nwant %q", got, sockets)
	}
	check()

	mustApply(t, rt, cfg("3", "https-renamed"))
	waitSockets(t, []int{port}, sockets)
	check()
}
