package localcluster_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
)

const caRotateNS = "carotate"

// TestConfigStreamCARotationInCluster rotates the config stream's CA on the local cluster
// (the operator runs with --xds-ca-propagation=20s for it; an administrator deletes the CA
// Secret): the next CA reaches the proxy's <proxy>-xds-ca ConfigMap, then signs; the
// proxy's stream opened under the first CA stays up through the rotation, and when the
// operator restarts (cutting every stream) the proxy reconnects with the bundle the kubelet
// refreshed in its mounted file, without a restart of its own.
func TestConfigStreamCARotationInCluster(t *testing.T) {
	c := clustertest.Require(t)
	k := kctl{kubeconfig: c.Kubeconfig}
	installAgentgateway(t, k)
	const opNS = "agentgateway-system"
	k.must(t, "-n", opNS, "patch", "deployment", "agentgateway-operator", "--type=json",
		"-p", `[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--xds-ca-propagation=20s"}]`)
	t.Cleanup(func() {
		// Give the args back to the manifests' field manager, as installAgentgateway applies them.
		root := envtest.RepoRoot()
		if out, err := k.run("apply", "--server-side", "--force-conflicts", "-k", filepath.Join(root, "manifests", "operator")); err != nil {
			t.Errorf("restore the operator: %v\n%s", err, out)
		}
		if out, err := k.run("-n", opNS, "rollout", "status", "deployment/agentgateway-operator", "--timeout=300s"); err != nil {
			t.Errorf("restore the operator: %v\n%s", err, out)
		}
		if out, err := k.run("delete", "namespace", caRotateNS, "--ignore-not-found", "--wait=false"); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", caRotateNS, err, out)
		}
	})
	k.must(t, "-n", opNS, "rollout", "status", "deployment/agentgateway-operator", "--timeout=300s")
	if out, err := k.run("delete", "namespace", caRotateNS, "--ignore-not-found", "--wait=true", "--timeout=120s"); err != nil {
		t.Fatalf("delete namespace %s: %v\n%s", caRotateNS, err, out)
	}
	k.applyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+caRotateNS+"}\n---\n"+`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: rotate, namespace: `+caRotateNS+`}
spec:
  gatewayClassName: agentgateway
  listeners:
    - {name: http, protocol: HTTP, port: 80}
`)
	k.must(t, "-n", caRotateNS, "wait", "--for=condition=Programmed", "gateway/rotate", "--timeout=300s")

	// connectedSince of every connected proxy of the Gateway, by pod. Right after an operator
	// rollout the new pod's aggregated API can answer before it has loaded the front proxy's
	// CA (the request is then anonymous and forbidden), so an error is returned for the caller
	// to wait on rather than failing the test.
	streams := func() (map[string]string, error) {
		out, err := k.run("-n", caRotateNS, "get", "proxystatuses", "-o",
			`jsonpath={range .items[?(@.connected==true)]}{.metadata.name}={.connectedSince}{"\n"}{end}`)
		if err != nil {
			return nil, fmt.Errorf("get proxystatuses: %v: %s", err, out)
		}
		m := map[string]string{}
		for _, l := range strings.Fields(out) {
			if pod, since, ok := strings.Cut(l, "="); ok {
				m[pod] = since
			}
		}
		return m, nil
	}
	var before map[string]string
	waitUntil(t, "the proxies connected", 120*time.Second, time.Second, func() error {
		var err error
		if before, err = streams(); err != nil {
			return err
		}
		if len(before) == 0 {
			return fmt.Errorf("no connected proxy")
		}
		return nil
	})
	secretKey := func(key string) string {
		v := k.must(t, "-n", opNS, "get", "secret", "agentgateway-xds-ca", "-o", "jsonpath={.data."+strings.ReplaceAll(key, ".", `\.`)+"}")
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			t.Fatalf("Secret key %s: %v", key, err)
		}
		return string(b)
	}
	ca1 := secretKey("ca.crt")
	bundle := func() string {
		return k.must(t, "-n", caRotateNS, "get", "configmap", "rotate-agentgateway-xds-ca", "-o", `jsonpath={.data.ca\.crt}`)
	}

	k.must(t, "-n", opNS, "delete", "secret", "agentgateway-xds-ca")
	var ca2 string
	waitUntil(t, "a next CA in the Secret and in the proxy's bundle", 60*time.Second, time.Second, func() error {
		out, err := k.run("-n", opNS, "get", "secret", "agentgateway-xds-ca", "-o", "name")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if ca2 = secretKey("next.crt"); ca2 == "" {
			if cur := secretKey("ca.crt"); cur != ca1 {
				ca2 = cur // already signing
			} else {
				return fmt.Errorf("no next CA yet")
			}
		}
		if b := bundle(); !strings.Contains(b, strings.TrimSpace(ca1)) || !strings.Contains(b, strings.TrimSpace(ca2)) {
			return fmt.Errorf("bundle lacks the current or the next CA")
		}
		return nil
	})
	waitUntil(t, "the next CA signing", 120*time.Second, time.Second, func() error {
		if cur := secretKey("ca.crt"); cur != ca2 {
			return fmt.Errorf("the first CA still signs")
		}
		if prev := secretKey("previous.crt"); prev != ca1 {
			return fmt.Errorf("the replaced CA is not kept in previous.crt")
		}
		return nil
	})
	var after map[string]string
	waitUntil(t, "proxystatus readable after the rotation", 60*time.Second, time.Second, func() error {
		var err error
		after, err = streams()
		return err
	})
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("streams changed across the CA rotation: %v -> %v", before, after)
	}

	// Restarting the operator cuts the streams: the proxies dial again with the bundle the
	// kubelet wrote into their mounted ConfigMap, and the server now serves the next CA's
	// certificate.
	k.must(t, "-n", opNS, "rollout", "restart", "deployment/agentgateway-operator")
	k.must(t, "-n", opNS, "rollout", "status", "deployment/agentgateway-operator", "--timeout=300s")
	waitUntil(t, "the same proxies reconnected under the next CA", 180*time.Second, 2*time.Second, func() error {
		now, err := streams()
		if err != nil {
			return err
		}
		for pod, since := range before {
			if s, ok := now[pod]; !ok || s == since {
				return fmt.Errorf("proxy %s has not reconnected (streams %v)", pod, now)
			}
		}
		return nil
	})
}
