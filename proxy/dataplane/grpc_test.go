package dataplane

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestGRPCOverH2C routes gRPC as the operator expresses GRPCRoutes: exact
// "/service/method" path matches on an HTTP listener, to an H2C backend.
func TestGRPCOverH2C(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() {
		// Serve returns nil after Stop; anything else is a listener failure.
		if err := gs.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	defer gs.Stop()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	port := freePort(t)
	rt := newRuntime(t)
	exact := func(p string) []config.HTTPRouteMatch {
		return []config.HTTPRouteMatch{{Path: &config.PathMatch{Type: config.PathMatchExact, Value: p}, Method: "POST"}}
	}
	g := be("grpc", ln.Addr().String())
	g.Protocol = config.BackendH2C
	d := be("dead", deadAddr)
	d.Protocol = config.BackendH2C
	mustApply(t, rt, &config.Config{
		Version: "1",
		Binds: []config.Bind{httpBind("http", port, config.Listener{Name: "web", HTTPRoutes: []config.HTTPRoute{hroute("grpc", nil,
			config.HTTPRouteRule{Matches: exact("/grpc.health.v1.Health/Check"), BackendRefs: to("grpc")},
			config.HTTPRouteRule{Matches: exact("/down.Service/Call"), BackendRefs: to("dead")},
		)}})},
		Backends: []config.Backend{g, d},
	})
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check through proxy: %v %v", resp, err)
	}
	for method, want := range map[string]codes.Code{
		"/no.Such/Method":    codes.Unimplemented, // no route: 404
		"/down.Service/Call": codes.Unavailable,   // backend refuses: 502
	} {
		err := conn.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		if status.Code(err) != want {
			t.Errorf("%s: got %v, want %v", method, err, want)
		}
	}
}
