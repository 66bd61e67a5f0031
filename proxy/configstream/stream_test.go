package configstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentgateway/agentgateway-go/proxy/config"
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
func (r *recorder) Heartbeat(StreamID, Node)                 {}
func (r *recorder) Pushed(_ StreamID, n Node, v string)      { r.add("pushed %s", v) }
func (r *recorder) Acked(_ StreamID, n Node, v string)       { r.add("acked %s", v) }
func (r *recorder) Nacked(_ StreamID, n Node, v, e string)   { r.add("nacked %s: %s", v, e) }
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	g := grpc.NewServer(ServerOptions()...)
	NewServer(snaps, tokenAuth, rec, nil).Register(g)
	go g.Serve(ln)
	ts := &testServer{addr: ln.Addr().String(), snaps: snaps, rec: rec, stop: g.Stop}
	t.Cleanup(g.Stop)
	return ts
}

func cfg(t *testing.T, port int) *config.Config {
	t.Helper()
	c := &config.Config{Binds: []config.Bind{{Name: fmt.Sprintf("port-%d", port), Port: port, Protocol: config.ProtocolHTTP}}}
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
	go func() { defer close(done); c.Run(ctx, a.apply) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestAckThenNackKeepsLastGood(t *testing.T) {
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	snaps.Set(gw, c1)
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &applier{}
	runClient(t, client(ts.addr, "good-gw"), a)

	ts.rec.waitFor(t, "acked "+c1.Version)

	bad := cfg(t, 666)
	snaps.Set(gw, bad)
	ts.rec.waitFor(t, "nacked "+bad.Version+": bind port-666: port is cursed")
	if got := a.list(); len(got) != 1 || got[0] != c1.Version {
		t.Fatalf("applied %v, want only %s", got, c1.Version)
	}

	// Republishing the same content is not a change and is not pushed.
	again := cfg(t, 666)
	if snaps.Set(gw, again) {
		t.Fatal("identical config reported as changed")
	}
	c2 := cfg(t, 9090)
	snaps.Set(gw, c2)
	ts.rec.waitFor(t, "acked "+c2.Version)
	if n := ts.rec.count("pushed"); n != 3 {
		t.Fatalf("pushed %d times, want 3", n)
	}
}

func TestReconnectResumesWithoutResend(t *testing.T) {
	snaps := NewSnapshots()
	c1 := cfg(t, 8080)
	snaps.Set(gw, c1)
	ts := startServer(t, "127.0.0.1:0", snaps)
	a := &applier{}
	runClient(t, client(ts.addr, "good-gw"), a)
	ts.rec.waitFor(t, "acked "+c1.Version)

	// The operator restarts on the same address; the proxy keeps its config meanwhile.
	ts.stop()
	ts2 := startServer(t, ts.addr, snaps)
	ts2.rec.waitFor(t, "connected gw-abc running="+c1.Version)
	time.Sleep(200 * time.Millisecond)
	if n := ts2.rec.count("pushed"); n != 0 {
		t.Fatalf("unchanged config was pushed %d times after resume", n)
	}
	if got := a.list(); len(got) != 1 {
		t.Fatalf("applied %v after resume, want one apply", got)
	}

	c2 := cfg(t, 9090)
	snaps.Set(gw, c2)
	ts2.rec.waitFor(t, "acked "+c2.Version)
}

func TestAuthRefused(t *testing.T) {
	snaps := NewSnapshots()
	snaps.Set(gw, cfg(t, 8080))
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
	snaps.Set(gw, c1)
	ts.rec.waitFor(t, "acked "+c1.Version)
	// Another Gateway's config never reaches this proxy.
	snaps.Set(GatewayKey{Namespace: "ns", Name: "other"}, cfg(t, 7070))
	time.Sleep(100 * time.Millisecond)
	if got := a.list(); len(got) != 1 {
		t.Fatalf("applied %v, want only its own gateway's config", got)
	}
}
