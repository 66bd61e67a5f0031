package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeLoop runs the startup, readiness and liveness probes of one container process until ctx
// ends (the process exited). Without a readiness probe the container is ready once started.
func (r *podRun) probeLoop(ctx context.Context, cr *ctrRun, kill chan<- struct{}) {
	c := cr.spec
	if c.StartupProbe != nil {
		if !r.runProbe(ctx, cr, kill, c.StartupProbe, "Startup", true) {
			return
		}
		r.mu.Lock()
		cr.started = true
		t := true
		cr.status.Started = &t
		r.mu.Unlock()
		r.publish()
	}
	if c.ReadinessProbe == nil {
		r.setReady(cr, true)
	} else {
		go r.readinessLoop(ctx, cr, c.ReadinessProbe)
	}
	if c.LivenessProbe != nil {
		r.runProbe(ctx, cr, kill, c.LivenessProbe, "Liveness", false)
	}
}

// runProbe probes until the failure threshold is crossed (then it restarts the container and
// returns false) or, when untilSuccess, until the first success (returns true).
func (r *podRun) runProbe(ctx context.Context, cr *ctrRun, kill chan<- struct{}, pr *corev1.Probe, kind string, untilSuccess bool) bool {
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return false
	}
	failures := 0
	threshold := int(orDefault(pr.FailureThreshold, 3))
	period := time.Duration(orDefault(pr.PeriodSeconds, 10)) * time.Second
	for {
		err := r.probeOnce(ctx, cr, pr)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			failures = 0
			if untilSuccess {
				return true
			}
		} else {
			failures++
			r.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
			if failures >= threshold {
				select {
				case kill <- struct{}{}:
				default:
				}
				return false
			}
		}
		if !sleepCtx(ctx, period) {
			return false
		}
	}
}

func (r *podRun) readinessLoop(ctx context.Context, cr *ctrRun, pr *corev1.Probe) {
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return
	}
	success, failure := 0, 0
	st := int(orDefault(pr.SuccessThreshold, 1))
	ft := int(orDefault(pr.FailureThreshold, 3))
	// Probe quickly until the first success: tests wait for Ready, and a kubelet's 10s period
	// would dominate every pod start.
	period := time.Duration(orDefault(pr.PeriodSeconds, 10)) * time.Second
	fast := 200 * time.Millisecond
	ready := false
	for {
		err := r.probeOnce(ctx, cr, pr)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			success, failure = success+1, 0
			if !ready && success >= st {
				ready = true
				r.setReady(cr, true)
			}
		} else {
			success, failure = 0, failure+1
			if ready && failure >= ft {
				ready = false
				r.setReady(cr, false)
				r.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %v", err)
			}
		}
		wait := period
		if !ready && fast < period {
			wait = fast
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

func (r *podRun) setReady(cr *ctrRun, ready bool) {
	r.mu.Lock()
	changed := cr.status.Ready != ready && cr.status.State.Running != nil
	if changed {
		cr.status.Ready = ready
	}
	r.mu.Unlock()
	if changed {
		r.publish()
	}
}

func (r *podRun) probeOnce(ctx context.Context, cr *ctrRun, pr *corev1.Probe) error {
	timeout := time.Duration(orDefault(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pod := r.snapshot()
	host := pod.Status.PodIP
	switch {
	case pr.HTTPGet != nil:
		h := pr.HTTPGet
		if h.Host != "" {
			host = h.Host
		}
		port, err := resolvePort(h.Port, &cr.spec)
		if err != nil {
			return err
		}
		scheme := strings.ToLower(string(h.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := h.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path), nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, hd := range h.HTTPHeaders {
			if strings.EqualFold(hd.Name, "host") {
				req.Host = hd.Value
				continue
			}
			req.Header.Add(hd.Name, hd.Value)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case pr.TCPSocket != nil:
		if pr.TCPSocket.Host != "" {
			host = pr.TCPSocket.Host
		}
		port, err := resolvePort(pr.TCPSocket.Port, &cr.spec)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case pr.Exec != nil:
		r.mu.Lock()
		pid := cr.pid
		r.mu.Unlock()
		if pid == 0 {
			return fmt.Errorf("container not running")
		}
		args := append([]string{"--target", strconv.Itoa(pid), "--mount", "--net", "--uts", "--"}, pr.Exec.Command...)
		cmd := exec.CommandContext(ctx, "nsenter", args...)
		env, _, err := r.p.containerEnv(pod, &cr.spec)
		if err != nil {
			return err
		}
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("exec probe %v: %w: %s", pr.Exec.Command, err, strings.TrimSpace(string(out)))
		}
		return nil
	case pr.GRPC != nil:
		// Treated as a TCP check: a gRPC health client is not worth a dependency here.
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(pr.GRPC.Port))))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return nil
}

var probeClient = &http.Client{
	Transport: &http.Transport{
		Proxy:             nil,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet probes skip verification too
		DisableKeepAlives: true,
	},
	// Probes must not follow redirects off the pod.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}

func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
