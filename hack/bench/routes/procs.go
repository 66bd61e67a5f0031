package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Where the operator runs (manifests/operator).
const (
	operatorNamespace = "agentgateway-system"
	operatorLease     = "agentgateway-operator"
	operatorMetrics   = 8080
)

// podProc is one container process of a pod on the local node.
type podProc struct {
	pod, ip string
	pid     int
	leader  bool
}

// mem is a process's resident memory now and its peak, in bytes.
type mem struct{ rss, hwm int64 }

// podProcs lists the first container's process of each running pod in ns matching sel.
// The local node agent runs containers as host processes and reports them in the
// container status as containerID "local://<pid>" (e2e/localcluster/node), so the API
// tells which host process is which pod without reading the agent's state directory.
func podProcs(ctx context.Context, c client.Client, ns string, sel client.MatchingLabels) ([]podProc, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), sel); err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var out []podProc
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		id, ok := strings.CutPrefix(p.Status.ContainerStatuses[0].ContainerID, "local://")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(id)
		if err != nil || pid <= 0 {
			continue
		}
		out = append(out, podProc{pod: p.Name, ip: p.Status.PodIP, pid: pid})
	}
	return out, nil
}

// operatorProcs are the operator replicas, the leader (holder of the election Lease) first.
func operatorProcs(ctx context.Context, c client.Client) ([]podProc, error) {
	procs, err := podProcs(ctx, c, operatorNamespace, client.MatchingLabels{"app.kubernetes.io/name": "agentgateway-operator"})
	if err != nil {
		return nil, err
	}
	lease := &coordinationv1.Lease{}
	holder := ""
	if err := c.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: operatorLease}, lease); err == nil && lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	for i := range procs {
		// controller-runtime's identity is "<hostname>_<uuid>"; the hostname is the pod name.
		if holder != "" && strings.HasPrefix(holder, procs[i].pod+"_") {
			procs[i].leader = true
			procs[0], procs[i] = procs[i], procs[0]
		}
	}
	return procs, nil
}

// memOf reads VmRSS and VmHWM of pid from /proc.
func memOf(pid int) (mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	defer f.Close() //nolint:errcheck // read only: Close has nothing to report
	return parseStatus(f)
}

func parseStatus(r io.Reader) (mem, error) {
	var m mem
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("parse %s: %w", k, err)
		}
		if k == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.hwm = kb << 10
		}
		found++
	}
	if found < 2 {
		return m, fmt.Errorf("no VmRSS/VmHWM in /proc status")
	}
	return m, sc.Err()
}

// scrape reads the operator's Prometheus text metrics at ip and sums the samples of
// every family whose name is in names, across label values under the name and per label
// set under the sample's name with its labels.
func scrape(ctx context.Context, ip string, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/metrics", ip, operatorMetrics), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape operator metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape operator metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body, names)
}

func parseMetrics(r io.Reader, names []string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		if !want[name] {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		out[name] += v
		if i := strings.IndexByte(line, '{'); i >= 0 && i < sp {
			out[line[:sp]] += v // per label set too, e.g. name{step="translate"}
		}
	}
	return out, sc.Err()
}

// statusPuts reads the apiserver's own request counters for status updates of HTTPRoutes and
// Gateways, by response code ("200" written, "409" conflict): what the operator's status
// writes cost the apiserver, failed attempts included.
func statusPuts(ctx context.Context, rc rest.Interface) (map[string]float64, error) {
	b, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("apiserver metrics: %w", err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `subresource="status"`) ||
			!strings.Contains(line, `verb="PUT"`) || !strings.Contains(line, `group="gateway.networking.k8s.io"`) ||
			!(strings.Contains(line, `resource="httproutes"`) || strings.Contains(line, `resource="gateways"`)) {
			continue
		}
		_, rest, ok := strings.Cut(line, `code="`)
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(rest, `"`)
		sp := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[sp+1:], 64); err == nil {
			out[code] += v
		}
	}
	return out, sc.Err()
}
