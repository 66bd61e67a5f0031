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

func TestWithDisconnected(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	statuses := ProxyStatuses([]configserver.ProxyState{
		{Pod: "up", Namespace: "ns", Gateway: "gw", Connected: true, ConnectedSince: t0},
		{Pod: "lost", Namespace: "ns", Gateway: "gw", ConnectedSince: t0, DisconnectedAt: t0.Add(time.Minute), AckedVersion: "a"},
		{Pod: "moved", Namespace: "ns", Gateway: "gw", ConnectedSince: t0, DisconnectedAt: t0.Add(time.Minute)},
		{Pod: "recent", Namespace: "ns", Gateway: "gw", ConnectedSince: t0, DisconnectedAt: t0.Add(2 * time.Minute)},
	}, nil)
	got := WithDisconnected(statuses, []configserver.Disconnected{
		{Namespace: "ns", Pod: "lost", Gateway: "gw", Node: "n1", Since: t0.Add(time.Minute)},
		{Namespace: "ns", Pod: "never", Gateway: "gw", Node: "n2", Since: t0.Add(30 * time.Second)},
	}, func(_, pod string) bool { return pod == "moved" })
	byPod := map[string]int{}
	for i, s := range got {
		byPod[s.Pod] = i
	}
	if len(got) != 4 {
		t.Fatalf("got %d statuses %v, want up, lost, recent and never (moved is connected elsewhere)", len(got), byPod)
	}
	if _, ok := byPod["moved"]; ok {
		t.Error("a proxy connected to another replica is listed as this replica's lost one")
	}
	up, lost, recent, never := got[byPod["up"]], got[byPod["lost"]], got[byPod["recent"]], got[byPod["never"]]
	if !up.Connected || up.DisconnectedSince != nil {
		t.Errorf("up: %+v", up)
	}
	if lost.Connected || lost.DisconnectedSince == nil || !lost.DisconnectedSince.Time.Equal(t0.Add(time.Minute)) || lost.Node != "n1" || lost.AckedVersion != "a" {
		t.Errorf("lost: %+v", lost)
	}
	if recent.Connected || recent.DisconnectedSince == nil || !recent.DisconnectedSince.Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("recent (within the grace period, this replica's own knowledge): %+v", recent)
	}
	if never.Connected || never.Gateway != "gw" || never.Node != "n2" || never.DisconnectedSince == nil || !never.DisconnectedSince.Time.Equal(t0.Add(30*time.Second)) {
		t.Errorf("never: %+v", never)
	}
}
