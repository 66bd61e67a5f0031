package publish

import (
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/operator/configserver"
)

func TestProxyStatuses(t *testing.T) {
	since := time.Date(2026, 11, 26, 8, 0, 0, 500, time.UTC)
	got := ProxyStatuses([]configserver.ProxyState{{
		Pod: "gw-1", Namespace: "ns", Gateway: "gw", BuildVersion: "v0.1.0", Connected: true,
		ConnectedSince: since, AckedVersion: "a", RejectedVersion: "b", LastError: "bad", LatestVersion: "b",
	}}, func(_, pod string) string { return "node-" + pod })
	if len(got) != 1 {
		t.Fatalf("got %d", len(got))
	}
	p := got[0]
	if p.Name != "gw-1" || p.Namespace != "ns" || p.Node != "node-gw-1" || p.LastHeartbeat != nil ||
		!p.CreationTimestamp.Time.Equal(since.Truncate(time.Second)) || p.ConnectedSince == nil ||
		p.AckedVersion != "a" || p.RejectedVersion != "b" || p.LastError != "bad" || p.LatestVersion != "b" {
		t.Errorf("unexpected conversion: %+v", p)
	}
}
