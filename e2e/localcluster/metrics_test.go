package localcluster_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
)

// TestProxyMetricsEndToEnd scrapes the demo Gateway's proxies on their metrics port (the pod
// IP, as a PodMonitor does) before and after requests through the Gateway, and checks that
// the documented series (docs/metrics.md) grew by at least the requests sent.
func TestProxyMetricsEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	k := kctl{c.Kubeconfig}
	root := envtest.RepoRoot()
	installAgentgateway(t, k)
	k.applyYAML(t, mustRead(t, filepath.Join(root, "manifests", "demo", "demo.yaml")))
	k.must(t, "-n", "demo", "wait", "--for=condition=Programmed", "gateway/demo", "--timeout=600s")
	addr := strings.TrimSpace(k.must(t, "-n", "demo", "get", "gateway", "demo", "-o", "jsonpath={.status.addresses[0].value}"))
	if addr == "" {
		t.Fatal("Programmed Gateway has no address")
	}
	doc := mustRead(t, filepath.Join(root, "docs", "metrics.md"))

	// The series asserted, each with labels it must carry.
	series := []struct{ name, labels string }{
		{"agentgateway_requests_total", `gateway="demo",listener="http",route="demo/echo",code="200"`},
		{"agentgateway_request_duration_seconds_count", `gateway="demo",listener="http",route="demo/echo"`},
		{"agentgateway_upstream_requests_total", `code="200",gateway="demo"`},
		{"agentgateway_upstream_request_duration_seconds_count", `gateway="demo"`},
		{"agentgateway_downstream_connections_opened_total", `gateway="demo"`},
	}
	for _, s := range series {
		family := strings.TrimSuffix(s.name, "_count")
		if !strings.Contains(doc, "| `"+family+"` |") {
			t.Fatalf("%s is not in docs/metrics.md", family)
		}
	}
	scrape := func() (map[string]float64, error) {
		ips := strings.Fields(k.must(t, "-n", "demo", "get", "pods", "-l", "app.kubernetes.io/name=agentgateway-proxy,gateway.networking.k8s.io/gateway-name=demo",
			"--field-selector=status.phase=Running", "-o", "jsonpath={range .items[*]}{.status.podIP}{\" \"}{end}"))
		if len(ips) == 0 {
			return nil, fmt.Errorf("no running proxy pod")
		}
		sums := map[string]float64{}
		for _, ip := range ips {
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ip + ":15020/metrics")
			if err != nil {
				return nil, err
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				for _, s := range series {
					if v, ok := sampleOf(line, s.name, strings.Split(s.labels, ",")); ok {
						sums[s.name] += v
					}
				}
			}
			resp.Body.Close()
			if err := sc.Err(); err != nil {
				return nil, err
			}
		}
		return sums, nil
	}
	// Programmed means the proxy runs the config; its listener may open a moment later.
	gw := newGWClient(addr)
	waitUntil(t, "traffic through the demo Gateway", 120*time.Second, time.Second, func() error {
		r, err := gw.do(req{host: "demo.example.com", path: "/"})
		if err == nil && r.code != 200 {
			err = fmt.Errorf("status %d", r.code)
		}
		return err
	})
	var before map[string]float64
	waitUntil(t, "scrape the proxies", 60*time.Second, time.Second, func() (err error) {
		before, err = scrape()
		return err
	})
	const n = 5
	for range n {
		gw.expect(t, 200, req{host: "demo.example.com", path: "/"})
	}
	// A request is counted when its exchange ends, just after the client read the answer.
	waitUntil(t, "documented series grow", 30*time.Second, 200*time.Millisecond, func() error {
		after, err := scrape()
		if err != nil {
			return err
		}
		for _, s := range series {
			if d := after[s.name] - before[s.name]; d < n && s.name != "agentgateway_downstream_connections_opened_total" || d < 1 {
				return fmt.Errorf("%s{%s} grew by %v (from %v), want at least %d", s.name, s.labels, d, before[s.name], n)
			}
		}
		return nil
	})
}

// sampleOf returns the value of an exposition line of metric name whose labels include every
// label pair of want.
func sampleOf(line, name string, want []string) (float64, bool) {
	rest, ok := strings.CutPrefix(line, name+"{")
	if !ok {
		return 0, false
	}
	labels, value, ok := strings.Cut(rest, "} ")
	if !ok {
		return 0, false
	}
	have := map[string]bool{}
	for _, l := range strings.Split(labels, ",") {
		have[l] = true
	}
	for _, w := range want {
		if !have[w] {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
	return v, err == nil
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
