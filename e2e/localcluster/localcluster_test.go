package localcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/clustertest"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/node"
)

// TestMain starts the cluster (AGW_E2E=1, root) and checks `down` leaves nothing behind.
func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

// TestEchoDeploymentEndToEnd runs the conformance echo server as a two-replica Deployment and
// checks pod networking, the downward API, EndpointSlices, Service DNS and ClusterIP, logs,
// scale-down and namespace deletion.
func TestEchoDeploymentEndToEnd(t *testing.T) {
	c := clustertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := c.Client
	ns := fmt.Sprintf("lc-e2e-%d", time.Now().Unix()%100000)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := false
	defer func() {
		if !deleted {
			if err := cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting namespace %s: %v", ns, err)
			}
		}
	}()

	labels := map[string]string{"app": "echo"}
	dep := localcluster.EchoDeployment(ns, "echo", 2)
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(3000)}},
		},
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	pods := waitReadyPods(ctx, t, cs, ns, "app=echo", 2)
	t.Logf("2 echo pods Ready in %s", time.Since(start).Round(time.Millisecond))
	if pods[0].Status.PodIP == pods[1].Status.PodIP {
		t.Fatalf("pods share IP %s", pods[0].Status.PodIP)
	}
	for _, p := range pods {
		checkRunsFromImage(t, p, 65532)
	}

	for _, p := range pods {
		body := httpGet(ctx, t, fmt.Sprintf("http://%s:3000/from-host", p.Status.PodIP))
		var echo struct {
			Pod       string `json:"pod"`
			Namespace string `json:"namespace"`
			Path      string `json:"path"`
		}
		if err := json.Unmarshal(body, &echo); err != nil {
			t.Fatalf("decode echo response %q: %v", body, err)
		}
		if echo.Pod != p.Name || echo.Namespace != ns {
			t.Errorf("pod %s answered pod=%q namespace=%q", p.Name, echo.Pod, echo.Namespace)
		}
	}

	// EndpointSlices list both pods, ready.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=echo"})
		if err != nil {
			return false, err
		}
		ips := map[string]bool{}
		for _, s := range l.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					for _, a := range e.Addresses {
						ips[a] = true
					}
				}
			}
		}
		return ips[pods[0].Status.PodIP] && ips[pods[1].Status.PodIP], nil
	})
	if err != nil {
		t.Fatalf("EndpointSlices never listed both pods: %v", err)
	}

	// A pod reaches the Service by DNS name and by ClusterIP.
	for name, url := range map[string]string{
		"by-dns":       fmt.Sprintf("http://echo.%s.svc.cluster.local:8080/by-dns", ns),
		"by-short-dns": "http://echo:8080/by-short-dns",
		"by-clusterip": fmt.Sprintf("http://%s:8080/by-clusterip", svc.Spec.ClusterIP),
	} {
		out := runClientPod(ctx, t, cs, ns, "client-"+name, []string{"curl", "-sS", "--max-time", "5", "--retry", "5", "--retry-all-errors", url})
		// curl's retry messages may precede the body.
		var echo struct {
			Namespace string `json:"namespace"`
			Pod       string `json:"pod"`
		}
		if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &echo) != nil || echo.Namespace != ns || !strings.HasPrefix(echo.Pod, "echo-") {
			t.Errorf("%s: unexpected response %q", name, out)
		}
	}

	// The LoadBalancer address from the bridge pool reaches the pods from the host.
	var lbIP string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Services(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
			return false, err
		}
		lbIP = s.Status.LoadBalancer.Ingress[0].IP
		return true, nil
	})
	if err != nil {
		t.Fatalf("LoadBalancer address never assigned: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lbIP+":8080/by-lb", nil)
		if err != nil {
			return false, err
		}
		resp, err := (&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}).Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, nil // retried: the body was cut off
		}
		return strings.Contains(string(b), ns), nil
	})
	if err != nil {
		t.Fatalf("LoadBalancer %s:8080 not reachable from the host: %v", lbIP, err)
	}

	// kubectl logs (apiserver -> kubelet API of the node agent) shows the echo log line.
	for _, p := range pods {
		raw, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("logs of %s: %v", p.Name, err)
		}
		if !strings.Contains(string(raw), "Echoing back request made to /from-host") {
			t.Errorf("logs of %s lack the echo line:\n%s", p.Name, raw)
		}
	}
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.Kubeconfig, "logs", "-n", ns, pods[0].Name).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Echoing back request made to") {
			t.Errorf("kubectl logs: %v\n%s", err, out)
		}
	}

	// Scale to zero: pods terminate and disappear.
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "echo", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		return err == nil && len(l.Items) == 0, err
	})
	if err != nil {
		t.Fatalf("pods did not go away after scale to 0: %v", err)
	}

	// Namespace deletion completes.
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted = true
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace %s never went away: %v", ns, err)
	}
}

// TestMissingImage checks that an image the local registry does not hold gives ErrImagePull
// and a Warning Event, as on a real node, not a hang.
func TestMissingImage(t *testing.T) {
	c := clustertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := "default"
	image := "ghcr.io/agentgateway-go/does-not-exist:v0"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("missing-image-%d", time.Now().UnixNano()%100000), Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: image}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		zero := int64(0)
		if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete pod: %v", err)
		}
	}()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason == "ErrImagePull" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod with a missing image never reported ErrImagePull: %v", err)
	}
	var seen []string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name})
		if err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range evs.Items {
			seen = append(seen, e.Type+"/"+e.Reason+": "+e.Message)
			if e.Type == corev1.EventTypeWarning && e.Reason == "Failed" && strings.Contains(e.Message, image) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no Warning/Failed event naming %s: %v; events: %v", image, err, seen)
	}
}

// checkRunsFromImage checks that each container of p runs from a pulled image (its ImageID is
// a digest) as uid, reading the process of its container ID on this machine.
func checkRunsFromImage(t *testing.T, p corev1.Pod, uid int) {
	t.Helper()
	for _, cs := range p.Status.ContainerStatuses {
		if !strings.Contains(cs.ImageID, "@sha256:") {
			t.Errorf("pod %s container %s: ImageID %q is no digest", p.Name, cs.Name, cs.ImageID)
		}
		pid, ok := strings.CutPrefix(cs.ContainerID, "local://")
		if !ok {
			t.Fatalf("pod %s container %s: container ID %q", p.Name, cs.Name, cs.ContainerID)
		}
		st, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatalf("pod %s container %s: %v", p.Name, cs.Name, err)
		}
		want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid)
		if !strings.Contains(string(st), want) {
			t.Errorf("pod %s container %s does not run as %d:\n%s", p.Name, cs.Name, uid, st)
		}
	}
}

func waitReadyPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		ready = ready[:0]
		for _, p := range l.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready = append(ready, p)
				}
			}
		}
		return len(ready) == n, nil
	})
	if err != nil {
		l, lerr := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if lerr != nil {
			t.Logf("listing pods for the report: %v", lerr)
			l = &corev1.PodList{}
		}
		for _, p := range l.Items {
			b, merr := json.MarshalIndent(p.Status, "", "  ")
			if merr != nil {
				t.Logf("pod %s status: %v", p.Name, merr)
			}
			t.Logf("pod %s status: %s", p.Name, b)
		}
		t.Fatalf("%d Ready pods %q in %s: %v", n, selector, ns, err)
	}
	return ready
}

func httpGet(ctx context.Context, t *testing.T, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b
}

// runClientPod runs a one-shot host-tool pod and returns its logs.
func runClientPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, cmd []string) string {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "client", Image: node.HostImage + ":latest", Command: cmd}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	raw, lerr := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || phase != corev1.PodSucceeded {
		t.Fatalf("client pod %s: phase %s, err %v, logs err %v:\n%s", name, phase, err, lerr, raw)
	}
	return string(raw)
}
