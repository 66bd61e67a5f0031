package localcluster_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

const streamLostNS = "streamlost"

// TestConfigStreamDisconnectedVisible gives a Gateway's proxy a CA that is not the operator's
// and restarts it: the new proxy pod runs but cannot open its config stream, and after the
// operator's grace period `kubectl get proxystatus` lists it not connected, with since
// when, and a ConfigStreamDisconnected Warning Event on the Gateway names it.
func TestConfigStreamDisconnectedVisible(t *testing.T) {
	c := clustertest.Require(t)
	k := kctl{kubeconfig: c.Kubeconfig}
	installAgentgateway(t, k)
	freshNamespace(t, k, streamLostNS)
	k.applyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+streamLostNS+"}\n---\n"+`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lost, namespace: `+streamLostNS+`}
spec:
  gatewayClassName: agentgateway
  listeners:
    - {name: http, protocol: HTTP, port: 80}
`)
	k.must(t, "-n", streamLostNS, "wait", "--for=condition=Programmed", "gateway/lost", "--timeout=300s")

	other, err := streamcert.NewCA("impostor", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k.must(t, "-n", streamLostNS, "patch", "configmap", "lost-agentgateway-xds-ca", "--type=merge", "-p", fmt.Sprintf(`{"data":{"ca.crt":%q}}`, string(other.CertPEM)))
	sel := "gateway.networking.k8s.io/gateway-name=lost"
	k.must(t, "-n", streamLostNS, "delete", "pod", "-l", sel, "--wait=false")

	var pod string
	waitUntil(t, "proxystatus lists the restarted proxy as disconnected", 180*time.Second, 2*time.Second, func() error {
		// Running and not terminating: the replaced pod's ended stream does not count.
		var pods struct {
			Items []struct {
				Metadata struct {
					Name              string
					DeletionTimestamp *string
				}
			}
		}
		if err := json.Unmarshal([]byte(k.must(t, "-n", streamLostNS, "get", "pods", "-l", sel, "--field-selector=status.phase=Running", "-o", "json")), &pods); err != nil {
			return err
		}
		var running []string
		for _, p := range pods.Items {
			if p.Metadata.DeletionTimestamp == nil {
				running = append(running, p.Metadata.Name)
			}
		}
		out, err := k.run("-n", streamLostNS, "get", "proxystatuses", "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var list struct {
			Items []struct {
				Metadata          struct{ Name string }
				Connected         bool
				DisconnectedSince string
			}
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		for _, ps := range list.Items {
			for _, p := range running {
				if ps.Metadata.Name == p && !ps.Connected && ps.DisconnectedSince != "" {
					pod = p
					return nil
				}
			}
		}
		return fmt.Errorf("running pods %v; proxystatuses %s", running, out)
	})
	t.Logf("kubectl get proxystatus -n %s\n%s", streamLostNS, k.must(t, "-n", streamLostNS, "get", "proxystatus"))

	waitUntil(t, "a ConfigStreamDisconnected Event on the Gateway names the pod", 120*time.Second, 2*time.Second, func() error {
		out := k.must(t, "-n", streamLostNS, "get", "events", "--field-selector=reason=ConfigStreamDisconnected",
			"-o", `jsonpath={range .items[*]}{.type}|{.involvedObject.kind}/{.involvedObject.name}|{.message}{"\n"}{end}`)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "Warning|Gateway/lost|") && strings.Contains(line, pod) {
				t.Logf("event: %s", line)
				return nil
			}
		}
		return fmt.Errorf("events: %q", out)
	})
}
