package runtime

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// BenchmarkProxyHTTP1 measures one keep-alive HTTP/1.1 request through the
// proxy to an empty backend (client and backend included, so compare
// allocs/op and ns/op between commits, not with other proxies; hack/bench
// does that).
func BenchmarkProxyHTTP1(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer backend.Close()
	port := freePort(b)
	rt := newRuntime(b)
	mustApply(b, rt, oneRoute(port, config.HTTPRouteRule{BackendRefs: to("a")}, be("a", backend.Listener.Addr().String())))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
