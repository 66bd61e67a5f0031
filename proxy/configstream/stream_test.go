package configstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// recorder is an Observer that remembers events as strings.
type recorder struct {
	mu     sync.Mutex
	events []string
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 100)} }

func (r *recorder) add(format string, a ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, a...))
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) Connected(_ StreamID, n Node, running string) {
	r.add("connected %s running=%s", n.Pod, running)
}
func (r *recorder) Heartbeat(StreamID, Node) {}
func (r *recorder) Pushed(_ StreamID, _ Node, p Push) {
	kind := "whole"
	if p.Delta {
		kind = "delta"
	}
	r.add("pushed %s %s", p.Version, kind)
}
func (r *recorder) Acked(_ StreamID, _ Node, v string)       { r.add("acked %s", v) }
func (r *recorder) Nacked(_ StreamID, _ Node, v, e string)   { r.add("nacked %s: %s", v, e) }
func (r *recorder) Disconnected(_ StreamID, n Node, _ error) { r.add("disconnected %s", n.Pod) }

// waitFor waits until an event containing want was recorded.
func (r *recorder) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for _, e := range r.events {
			if strings.Contains(e, want) {
				r.mu.Unlock()
				return
			}
		}
		evs := append([]string(nil), r.events...)
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %q; events: %q", want, evs)
		}
	}
}

func (r *recorder) with(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// mustSet publishes cfg for gw.
func mustSet(t *testing.T, snaps *Snapshots, gw GatewayKey, cfg *config.Config) {
	t.Helper()
	if _, err := snaps.Set(gw, cfg); err != nil {
		t.Fatalf("publish %s: %v", gw, err)
	}
}

// index is the position of the first event containing want, or -1.
func (r *recorder) index(want string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.events {
		if strings.Contains(e, want) {
			return i
		}
	}
	return -1
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// tokenAuth lets token "good-<gateway>" read <gateway> only.
var tokenAuth = AuthenticatorFunc(func(_ context.Context, token string, n Node) error {
	gw, ok := strings.CutPrefix(token, "good-")
	if !ok {
		return status.Error(codes.Unauthenticated, "bad token")
	}
	if gw != n.Gateway {
		return status.Errorf(codes.PermissionDenied, "token is for gateway %s, not %s", gw, n.Gateway)
	}
	return nil
})

type testServer struct {
	addr  string
	snaps *Snapshots
	rec   *recorder
	stop  func()
}

func startServer(t *testing.T, addr string, snaps *Snapshots) *testServer {
	t.Helper()
	return startServerWith(t, addr, snaps, testPKI.serving)
}

// startServerWith serves with the certificates of serving.
func startServerWith(t *testing.T, addr string, snaps *Snapshots, serving *streamcert.Serving) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	g := grpc.NewServer(append(ServerOptions(), ServerTLS(serving.GetCertificate))...)
	NewServer(snaps, tokenAuth, rec, nil).Register(g)
	go func() {
		// Serve returns nil after Stop; anything else is a listener failure.
		if err := g.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	ts := &testServer{addr: ln.Addr().String(), snaps: snaps, rec: rec, stop: g.Stop}
	t.Cleanup(g.Stop)
	return ts
}

func cfg(t *testing.T, port int) *config.Config {
	t.Helper()
	c := &config.Config{Binds: []config.Bind{{Name: fmt.Sprintf("port-%d", port), Port: port, Protocol: config.ProtocolHTTP,
		Listeners: []config.Listener{{Name: "http", Protocol: config.ProtocolHTTP}}}}}
	v, err := VersionOf(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Version = v
	return c
}

var gw = GatewayKey{Namespace: "ns", Name: "gw"}

func client(addr, token string) *Client {
	return &Client{
		Address:    addr,
		CAFile:     testPKI.caFile,
		Node:       Node{Pod: "gw-abc", Namespace: "ns", Gateway: "gw", BuildVersion: "test"},
		Token:      func() (string, error) { return token, nil },
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		HeartbeatInterval: 50 * time.Millisecond,
	}
}

// applier records applied versions and rejects configs with port 666.
type applier struct {
	mu      sync.Mutex
	applied []string
}

func (a *applier) apply(c *config.Config) error {
	if len(c.Binds) > 0 && c.Binds[0].Port == 666 {
		return errors.New("bind port-666: port is cursed")
	}
	a.mu.Lock()
	a.applied = append(a.applied, c.Version)
	a.mu.Unlock()
	return nil
}

func (a *applier) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.applied...)
}

func runClient(t *testing.T, c *Client, a *applier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx, a.apply); err != nil {
			t.Errorf("client Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestAckThenNackKeepsLastGood(t *testing.T) {
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	mustSet(t, snaps, gw, c1)
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &applier{}
	runClient(t, client(ts.addr, "good-gw"), a)

	ts.rec.waitFor(t, "acked "+c1.Version)

	bad := cfg(t, 666)
	mustSet(t, snaps, gw, bad)
	ts.rec.waitFor(t, "nacked "+bad.Version+": bind port-666: port is cursed")
	if got := a.list(); len(got) != 1 || got[0] != c1.Version {
		t.Fatalf("applied %v, want only %s", got, c1.Version)
	}

	// Republishing the same content is not a change and is not pushed.
	again := cfg(t, 666)
	if changed, err := snaps.Set(gw, again); err != nil || changed {
		t.Fatalf("republishing an identical config: changed=%v, err=%v; want no change", changed, err)
	}
	c2 := cfg(t, 9090)
	mustSet(t, snaps, gw, c2)
	ts.rec.waitFor(t, "acked "+c2.Version)
	// c1 whole; the bad config as a delta, refused; c2 as a delta from c1, which the proxy
	// still runs.
	want := []string{"pushed " + c1.Version + " whole", "pushed " + bad.Version + " delta", "pushed " + c2.Version + " delta"}
	if got := ts.rec.with("pushed"); !slices.Equal(got, want) {
		t.Fatalf("pushes %q, want %q", got, want)
	}
}

func TestReconnectResumesWithoutResend(t *testing.T) {
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	mustSet(t, snaps, gw, c1)
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &applier{}
	runClient(t, client(ts.addr, "good-gw"), a)
	ts.rec.waitFor(t, "acked "+c1.Version)

	// The operator restarts on the same address; the proxy keeps its config meanwhile.
	ts.stop()
	ts2 := startServer(t, ts.addr, snaps)
	ts2.rec.waitFor(t, "connected gw-abc running="+c1.Version)

	// A change after the resume is pushed and answered; a resend of c1 would have been
	// pushed on the same stream before it.
	c2 := cfg(t, 9090)
	mustSet(t, snaps, gw, c2)
	ts2.rec.waitFor(t, "acked "+c2.Version)
	if got, want := ts2.rec.with("pushed"), []string{"pushed " + c2.Version + " delta"}; !slices.Equal(got, want) {
		t.Fatalf("pushes after resume %q, want only %q (the unchanged config is not sent again)", got, want)
	}
	if got := a.list(); !slices.Equal(got, []string{c1.Version, c2.Version}) {
		t.Fatalf("applied %v, want %s once, then %s", got, c1.Version, c2.Version)
	}
}

func TestAuthRefused(t *testing.T) {
	snaps := NewSnapshots()
	mustSet(t, snaps, gw, cfg(t, 8080))
	ts := startServer(t, "127.0.0.1:0", snaps)
	for _, tc := range []struct {
		token string
		code  codes.Code
		msg   string
	}{
		{"stolen", codes.Unauthenticated, "bad token"},
		{"good-other", codes.PermissionDenied, "token is for gateway other, not gw"},
		{"", codes.Unauthenticated, "missing"},
	} {
		t.Run(tc.code.String()+tc.token, func(t *testing.T) {
			ended := make(chan error, 10)
			c := client(ts.addr, tc.token)
			c.StreamEnded = func(err error) { ended <- err }
			a := &applier{}
			runClient(t, c, a)
			select {
			case err := <-ended:
				if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("stream ended with %v, want %s containing %q", err, tc.code, tc.msg)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("stream was not refused")
			}
			if got := a.list(); len(got) != 0 {
				t.Fatalf("refused proxy applied %v", got)
			}
		})
	}
	if n := ts.rec.count("connected"); n != 0 {
		t.Fatalf("%d refused proxies were reported connected", n)
	}
}

func TestWaitsForFirstSnapshot(t *testing.T) {
	snaps := NewSnapshots()
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &applier{}
	runClient(t, client(ts.addr, "good-gw"), a)
	ts.rec.waitFor(t, "connected gw-abc running=")
	c1 := cfg(t, 8080)
	mustSet(t, snaps, gw, c1)
	ts.rec.waitFor(t, "acked "+c1.Version)
	// Another Gateway's config never reaches this proxy: publishing it neither wakes this
	// Gateway's streams nor changes its latest version, and its own next config, published
	// after it, is the next one pushed.
	_, gwChanged := snaps.latest(gw)
	other := cfg(t, 7070)
	if _, err := snaps.Set(GatewayKey{Namespace: "ns", Name: "other"}, other); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gwChanged:
		t.Fatal("publishing another Gateway's config woke this Gateway's streams")
	default:
	}
	if enc, _ := snaps.latest(gw); enc == nil || enc.Version != c1.Version {
		t.Fatalf("this Gateway's latest config is %v after another's was published, want %s", enc, c1.Version)
	}
	c2 := cfg(t, 9090)
	mustSet(t, snaps, gw, c2)
	ts.rec.waitFor(t, "acked "+c2.Version)
	if got, want := ts.rec.with("pushed"), []string{"pushed " + c1.Version + " whole", "pushed " + c2.Version + " delta"}; !slices.Equal(got, want) {
		t.Fatalf("pushes %q, want %q", got, want)
	}
	if got := a.list(); !slices.Equal(got, []string{c1.Version, c2.Version}) {
		t.Fatalf("applied %v, want only its own gateway's configs", got)
	}
}

// configs records every config it applies; block, when set, holds applies until closed.
type configs struct {
	mu      sync.Mutex
	applied []*config.Config
	block   chan struct{}
}

func (c *configs) apply(cfg *config.Config) error {
	c.mu.Lock()
	block := c.block
	c.mu.Unlock()
	if block != nil {
		<-block
	}
	c.mu.Lock()
	c.applied = append(c.applied, cfg)
	c.mu.Unlock()
	return nil
}

func (c *configs) last() *config.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.applied) == 0 {
		return nil
	}
	return c.applied[len(c.applied)-1]
}

func runConfigClient(t *testing.T, c *Client, a *configs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx, a.apply); err != nil {
			t.Errorf("client Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func hosts(n int, extra ...string) []string {
	var hs []string
	for i := range n {
		hs = append(hs, fmt.Sprintf("%d.example.com", i))
	}
	return append(hs, extra...)
}

// publish stores a config with the given hosts as routes and returns its JSON, to compare
// with what the proxy applied.
func publish(t *testing.T, snaps *Snapshots, hs []string) (string, string) {
	t.Helper()
	c := testConfig(80, hs...)
	want := mustJSON(t, c)
	if _, err := snaps.Set(gw, c); err != nil {
		t.Fatal(err)
	}
	return c.Version, want
}

func mustJSON(t *testing.T, c *config.Config) string {
	t.Helper()
	cp := *c
	cp.Version = ""
	raw, err := json.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestDeltasRebuildTheConfig(t *testing.T) {
	snaps := NewSnapshots()
	v1, _ := publish(t, snaps, hosts(50))
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &configs{}
	runConfigClient(t, client(ts.addr, "good-gw"), a)
	ts.rec.waitFor(t, "acked "+v1)

	var want string
	var vs []string
	for i, hs := range [][]string{
		hosts(50, "new.example.com"),         // a route added
		hosts(40, "new.example.com"),         // ten removed
		append(hosts(40), "new.example.com"), // unchanged: no push
		hosts(40)[1:],                        // one removed, another removed
	} {
		v, w := publish(t, snaps, hs)
		ts.rec.waitFor(t, "acked "+v)
		if i != 2 {
			vs = append(vs, v)
		}
		want = w
		if got := mustJSON(t, a.last()); got != want {
			t.Fatalf("step %d: the proxy runs\n%s\nwant\n%s", i, got, want)
		}
		if a.last().Version != v {
			t.Fatalf("step %d: version %s, want %s", i, a.last().Version, v)
		}
	}
	wantPushes := []string{"pushed " + v1 + " whole"}
	for _, v := range vs {
		wantPushes = append(wantPushes, "pushed "+v+" delta")
	}
	if got := ts.rec.with("pushed"); !slices.Equal(got, wantPushes) {
		t.Fatalf("pushes %q, want %q", got, wantPushes)
	}

	// A proxy resuming with the latest version gets the next one as a delta; a new proxy
	// gets the latest whole and then deltas; one that does not announce deltas gets
	// whole configs only.
	ts.stop()
	ts2 := startServer(t, ts.addr, snaps)
	ts2.rec.waitFor(t, "connected gw-abc running="+vs[len(vs)-1])
	fresh, old := client(ts2.addr, "good-gw"), client(ts2.addr, "good-gw")
	fresh.Node.Pod, old.Node.Pod, old.wholeOnly = "fresh", "old", true
	fa, oa := &configs{}, &configs{}
	runConfigClient(t, fresh, fa)
	runConfigClient(t, old, oa)
	for _, c := range []*configs{fa, oa} {
		waitVersion(t, c, vs[len(vs)-1])
	}
	v, want := publish(t, snaps, hosts(3))
	for _, c := range []*configs{a, fa, oa} {
		waitVersion(t, c, v)
		if got := mustJSON(t, c.last()); got != want {
			t.Fatalf("a proxy runs\n%s\nwant\n%s", got, want)
		}
	}
	if got := ts2.rec.with("pushed " + v); len(got) != 3 || count(got, "delta") != 2 {
		t.Fatalf("pushes of %s: %q, want two deltas and one whole", v, got)
	}
	if got := ts2.rec.with("pushed"); len(got) != 5 || count(got, "whole") != 3 {
		t.Fatalf("pushes %q, want the latest whole to both new proxies, then the next as two deltas and one whole", got)
	}
}

// TestApplyDeltaIsToldWhatChanged: with ApplyDelta set, a config rebuilt from a delta goes
// there with the version it was built from, and only the routes the delta carried are
// reported changed; whole configs still go to Run's apply.
func TestApplyDeltaIsToldWhatChanged(t *testing.T) {
	snaps := NewSnapshots()
	v1, _ := publish(t, snaps, hosts(5))
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &configs{}
	type call struct {
		version, base string
		changed       []string
	}
	calls := make(chan call, 10)
	c := client(ts.addr, "good-gw")
	c.ApplyDelta = func(cfg *config.Config, base string, unchanged func(bind, listener, key string) bool) error {
		var changed []string
		for _, b := range cfg.Binds {
			for _, l := range b.Listeners {
				for _, r := range l.HTTPRoutes {
					if !unchanged(b.Name, l.Name, r.EffectiveKey()) {
						changed = append(changed, b.Name+"/"+l.Name+"/"+r.EffectiveKey())
					}
				}
			}
		}
		calls <- call{cfg.Version, base, changed}
		return a.apply(cfg)
	}
	runConfigClient(t, c, a)
	ts.rec.waitFor(t, "acked "+v1)
	if len(calls) != 0 {
		t.Fatal("a whole config went to ApplyDelta")
	}
	v2, want := publish(t, snaps, hosts(5, "new.example.com"))
	ts.rec.waitFor(t, "acked "+v2)
	got := <-calls
	if got.version != v2 || got.base != v1 || !slices.Equal(got.changed, []string{"port-80/http/ns/new.example.com"}) {
		t.Fatalf("ApplyDelta got version %s base %s changed %q; want %s, %s, the new route", got.version, got.base, got.changed, v2, v1)
	}
	if mustJSON(t, a.last()) != want {
		t.Fatal("the config applied differs from the one published")
	}
}

func waitVersion(t *testing.T, c *configs, v string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.last() == nil || c.last().Version != v {
		if time.Now().After(deadline) {
			t.Fatalf("a proxy did not get %s", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func count(ss []string, sub string) int {
	n := 0
	for _, s := range ss {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// TestPushWaitsForTheAnswer: while a proxy applies one version, newer ones coalesce into
// one push of the newest, a delta from the version being applied.
func TestPushWaitsForTheAnswer(t *testing.T) {
	snaps := NewSnapshots()
	v1, _ := publish(t, snaps, hosts(5))
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &configs{}
	runConfigClient(t, client(ts.addr, "good-gw"), a)
	ts.rec.waitFor(t, "acked "+v1)

	release := make(chan struct{})
	a.mu.Lock()
	a.block = release
	a.mu.Unlock()
	v2, _ := publish(t, snaps, hosts(6))
	ts.rec.waitFor(t, "pushed "+v2)
	publish(t, snaps, hosts(7))
	publish(t, snaps, hosts(8))
	v5, want := publish(t, snaps, hosts(9))
	a.mu.Lock()
	a.block = nil
	a.mu.Unlock()
	close(release)
	ts.rec.waitFor(t, "acked "+v5)
	if got := ts.rec.with("pushed"); !slices.Equal(got, []string{"pushed " + v1 + " whole", "pushed " + v2 + " delta", "pushed " + v5 + " delta"}) {
		t.Fatalf("pushes %q", got)
	}
	// Nothing was pushed while the proxy was applying v2: the push of v5 follows its answer.
	if acked, pushed := ts.rec.index("acked "+v2), ts.rec.index("pushed "+v5); acked < 0 || pushed < acked {
		t.Fatalf("%s pushed (event %d) before %s was answered (event %d)", v5, pushed, v2, acked)
	}
	if got := mustJSON(t, a.last()); got != want {
		t.Fatalf("the proxy runs\n%s\nwant\n%s", got, want)
	}
}

// TestResendSendsWhole: a proxy that cannot rebuild a config from a delta asks for it
// whole; that is not a rejection.
func TestResendSendsWhole(t *testing.T) {
	snaps := NewSnapshots()
	v1, _ := publish(t, snaps, hosts(2))
	ts := startServer(t, "127.0.0.1:0", snaps)
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(&caCredentials{caFile: testPKI.caFile, serverName: "127.0.0.1"}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer good-gw")
	st, err := conn.NewStream(ctx, streamDesc, fullMethod, CallCodec())
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *Response {
		t.Helper()
		r := new(Response)
		if err := st.RecvMsg(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(r *Request) {
		t.Helper()
		if err := st.SendMsg(r); err != nil {
			t.Fatal(err)
		}
	}
	send(&Request{Node: &Node{Pod: "raw", Namespace: "ns", Gateway: "gw"}, Deltas: true})
	if r := recv(); r.Version != v1 || r.Config == nil || r.Delta != nil {
		t.Fatalf("first push: %+v", r)
	}
	send(&Request{Version: v1, Nonce: "1"})
	v2, _ := publish(t, snaps, hosts(3))
	if r := recv(); r.Version != v2 || r.Delta == nil || r.Delta.Base != v1 || len(r.Delta.Routes) != 1 {
		t.Fatalf("second push: %+v", r)
	}
	send(&Request{Version: v2, Nonce: "2", Error: "lost my base", Resend: true})
	if r := recv(); r.Version != v2 || r.Config == nil || r.Delta != nil || r.Nonce != "3" {
		t.Fatalf("after resend: %+v", r)
	}
	send(&Request{Version: v2, Nonce: "3"})
	ts.rec.waitFor(t, "acked "+v2)
	if n := ts.rec.count("nacked"); n != 0 {
		t.Fatalf("a resend was reported as %d rejections", n)
	}
	// Deltas resume from the version acknowledged whole.
	v3, _ := publish(t, snaps, hosts(4))
	if r := recv(); r.Version != v3 || r.Delta == nil || r.Delta.Base != v2 {
		t.Fatalf("third push: %+v", r)
	}
}
