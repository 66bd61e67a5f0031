package dataplane

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestFrontendTCPKeepalive: a bind's tcpKeepalive is set on the sockets it
// accepts, read back with getsockopt.
func TestFrontendTCPKeepalive(t *testing.T) {
	a := startBackend(t, "a", false)
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disableFastPath=%v", disable), func(t *testing.T) {
			accepted := make(chan net.Conn, 1)
			hook := func(c net.Conn) {
				select {
				case accepted <- c:
				default:
				}
			}
			if !acceptedConn.CompareAndSwap(nil, &hook) {
				t.Fatal("another test watches accepted connections")
			}
			t.Cleanup(func() { acceptedConn.Store(nil) })
			port := freePort(t)
			rt := frontendRuntime(t, disable)
			c := oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", a.addr))
			mustApply(t, rt, withFrontend(c, &config.Frontend{TCPKeepalive: &config.FrontendKeepalive{
				Time: config.D(7 * time.Second), Interval: config.D(3 * time.Second), Probes: 4}}))
			rc := dialRaw(t, port)
			rc.send(get1("/"))
			if resp, _ := rc.read(""); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var sc net.Conn
			select {
			case sc = <-accepted:
			case <-time.After(5 * time.Second):
				t.Fatal("no connection accepted")
			}
			got := map[string]int{}
			raw, err := sc.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				for name, opt := range map[string][2]int{
					"SO_KEEPALIVE": {unix.SOL_SOCKET, unix.SO_KEEPALIVE}, "TCP_KEEPIDLE": {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
					"TCP_KEEPINTVL": {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL}, "TCP_KEEPCNT": {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
				} {
					v, err := unix.GetsockoptInt(int(fd), opt[0], opt[1])
					if err != nil {
						serr = err
					}
					got[name] = v
				}
			}); err != nil {
				t.Fatal(err)
			}
			if serr != nil {
				t.Fatal(serr)
			}
			want := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 7, "TCP_KEEPINTVL": 3, "TCP_KEEPCNT": 4}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %d, want %d", k, got[k], v)
				}
			}
		})
	}
}
