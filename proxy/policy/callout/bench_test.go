package callout

import (
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// BenchmarkRateLimitClient prices taking the rate-limit client of a
// connection, which a global rate limit does for every request.
func BenchmarkRateLimitClient(b *testing.B) {
	bs, err := upstream.NewPool().Prepare([]config.Backend{{Name: "rls", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}}}})
	if err != nil {
		b.Fatal(err)
	}
	s := NewConns().Stage()
	c := s.Get(bs["rls"], 0)
	defer s.CloseAll()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.RateLimitClient(); err != nil {
			b.Fatal(err)
		}
	}
}
