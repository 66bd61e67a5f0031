package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/netns"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/podinit"
	"github.com/agentgateway/agentgateway-go/e2e/localcluster/procs"
)

// Restart back-off: shorter than the kubelet's 10s..5m, because tests wait on it.
const (
	backoffBase  = 1 * time.Second
	backoffMax   = 30 * time.Second
	backoffReset = 2 * time.Minute
)

// podRun is one pod's lifecycle. The pod field is the source of truth for the status sent
// to virtual-kubelet; it is only touched under mu.
type podRun struct {
	p   *Provider
	key string
	dir string

	mu       sync.Mutex
	pod      *corev1.Pod
	ctrs     map[string]*ctrRun
	tokens   map[string]cachedToken
	ip       net.IP
	net      *netns.PodNetwork
	stopping bool
	grace    time.Duration
	// spec is the immutable part of the pod this run started with; read it without mu.
	spec corev1.PodSpec

	stopCh   chan struct{}
	stopOnce sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
}

type cachedToken struct {
	value   string
	renewAt time.Time
}

// ctrRun is one container: its status and current process.
type ctrRun struct {
	spec    corev1.Container
	imageID string // repository@digest once pulled
	init    bool
	status  corev1.ContainerStatus
	pid     int
	exited  chan struct{} // closed when the current process exits
	started bool          // startup probe passed
}

func newPodRun(p *Provider, pod *corev1.Pod) *podRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &podRun{
		p:      p,
		key:    key(pod.Namespace, pod.Name),
		dir:    filepath.Join(p.cfg.PodsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		pod:    pod,
		spec:   *pod.Spec.DeepCopy(),
		ctrs:   map[string]*ctrRun{},
		tokens: map[string]cachedToken{},
		stopCh: make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, HostIP: p.cfg.NodeIP, StartTime: &now,
		HostIPs: []corev1.HostIP{{IP: p.cfg.NodeIP}}, QOSClass: qos(pod)}
	for _, c := range pod.Spec.InitContainers {
		r.ctrs[c.Name] = &ctrRun{spec: c, init: true, status: waiting(c, "PodInitializing", "")}
	}
	for _, c := range pod.Spec.Containers {
		r.ctrs[c.Name] = &ctrRun{spec: c, status: waiting(c, "ContainerCreating", "")}
	}
	r.refreshStatusLocked()
	return r
}

func qos(pod *corev1.Pod) corev1.PodQOSClass {
	for _, c := range pod.Spec.Containers {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			return corev1.PodQOSBurstable
		}
	}
	return corev1.PodQOSBestEffort
}

func waiting(c corev1.Container, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: "local://" + imageRepository(c.Image),
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
	}
}

func (r *podRun) snapshot() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pod.DeepCopy()
}

func (r *podRun) update(pod *corev1.Pod) {
	r.mu.Lock()
	st := r.pod.Status
	r.pod = pod.DeepCopy()
	r.pod.Status = st
	r.mu.Unlock()
}

// publish recomputes the pod status and hands a copy to virtual-kubelet.
func (r *podRun) publish() {
	r.mu.Lock()
	r.refreshStatusLocked()
	pod := r.pod.DeepCopy()
	r.mu.Unlock()
	r.p.emit(pod)
}

func (r *podRun) event(typ, reason, format string, args ...any) {
	if r.p.cfg.Recorder != nil {
		r.p.cfg.Recorder.Eventf(r.snapshot(), typ, reason, format, args...)
	}
}

func (r *podRun) isStopping() bool {
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

func (r *podRun) stop(graceSeconds int64) {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.grace = time.Duration(graceSeconds) * time.Second
		r.stopping = true
		r.mu.Unlock()
		close(r.stopCh)
	})
}

// sleep waits d or until the pod stops; it reports whether the pod is still wanted.
func (r *podRun) sleep(d time.Duration) bool {
	select {
	case <-r.stopCh:
		return false
	case <-time.After(d):
		return true
	}
}

// run is the pod's whole life: images, network, volumes, init containers, containers,
// termination, cleanup.
func (r *podRun) run() {
	defer r.cancel()
	r.publish()
	imgs, ok := r.resolveImages()
	if ok {
		ok = r.setup()
	}
	if ok {
		ok = r.runInit(imgs)
	}
	var wg sync.WaitGroup
	if ok {
		r.mu.Lock()
		r.pod.Status.Conditions = setCondition(r.pod.Status.Conditions, corev1.PodInitialized, corev1.ConditionTrue, "")
		r.mu.Unlock()
		go r.volumeRefresher()
		for _, c := range r.spec.Containers {
			cr := r.ctrs[c.Name]
			wg.Add(1)
			go func() { defer wg.Done(); r.supervise(cr, imgs[c.Name]) }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-r.stopCh:
	case <-done:
	}
	r.terminate()
	<-done
	r.finish()
	r.publish()
	if r.isStopping() {
		r.deleteObject()
	}
	// A pod that completed on its own keeps its status and logs until it is deleted, as on a
	// kubelet; virtual-kubelet calls DeletePod once the object is gone.
	<-r.stopCh
	if err := os.RemoveAll(r.dir); err != nil {
		r.p.cfg.Logf("pod %s: remove state: %v", r.key, err)
	}
	r.p.forget(r)
}

func (r *podRun) resolveImages() (map[string]pulled, bool) {
	out := map[string]pulled{}
	all := append(append([]corev1.Container{}, r.spec.InitContainers...), r.spec.Containers...)
	delay := 2 * time.Second
	for _, c := range all {
		for {
			p, err := r.pull(c.Image)
			if err == nil {
				out[c.Name] = p
				if p.img != nil {
					r.mu.Lock()
					r.ctrs[c.Name].imageID = imageRepository(c.Image) + "@" + p.img.Digest
					r.mu.Unlock()
				}
				break
			}
			// ErrImagePull for every failure, as the kubelet reports the pull attempt itself;
			// the back-off between attempts is ImagePullBackOff.
			r.mu.Lock()
			r.ctrs[c.Name].status = waiting(c, "ErrImagePull", err.Error())
			r.mu.Unlock()
			r.event(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
			r.publish()
			if !r.sleep(delay / 2) {
				return nil, false
			}
			r.mu.Lock()
			r.ctrs[c.Name].status = waiting(c, "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.Image))
			r.mu.Unlock()
			r.event(corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
			r.publish()
			if !r.sleep(delay / 2) {
				return nil, false
			}
			delay = min(delay*2, backoffMax)
		}
	}
	return out, true
}

// pull resolves one container image: the host image, or an image from the local registry.
func (r *podRun) pull(image string) (pulled, error) {
	if imageRepository(image) == HostImage {
		return pulled{host: true}, nil
	}
	start := time.Now()
	img, err := r.p.cfg.Store.Pull(r.ctx, image)
	if err != nil {
		return pulled{}, err
	}
	r.event(corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q (%s) in %s", image, img.Digest, time.Since(start).Round(time.Millisecond))
	return pulled{img: img}, nil
}

// setup creates the pod's network and volumes, retrying volume errors (a Secret may appear later).
func (r *podRun) setup() bool {
	if err := errors.Join(mkdir(filepath.Join(r.dir, "pids")), mkdir(filepath.Join(r.dir, "logs"))); err != nil {
		r.fail("CreateContainerError", err)
		return false
	}
	pod := r.snapshot()
	ip := net.ParseIP(r.p.cfg.NodeIP)
	if !pod.Spec.HostNetwork {
		var err error
		ip, err = r.p.allocateIP(r.key)
		if err != nil {
			r.fail("FailedCreatePodSandBox", err)
			return false
		}
		r.mu.Lock()
		r.ip = ip
		r.mu.Unlock()
		pn, err := netns.CreatePod(r.p.cfg.Network, string(pod.UID), ip)
		if err != nil {
			r.fail("FailedCreatePodSandBox", err)
			return false
		}
		r.mu.Lock()
		r.net = &pn
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.pod.Status.PodIP = ip.String()
	r.pod.Status.PodIPs = []corev1.PodIP{{IP: ip.String()}}
	r.pod.Status.Conditions = setCondition(r.pod.Status.Conditions, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "")
	pod = r.pod.DeepCopy()
	r.mu.Unlock()
	if err := r.writeNetworkFiles(pod); err != nil {
		r.fail("FailedCreatePodSandBox", err)
		return false
	}
	delay := time.Second
	for {
		err := r.syncVolumes(r.ctx)
		if err == nil {
			break
		}
		r.event(corev1.EventTypeWarning, "FailedMount", "%v", err)
		if !r.sleep(delay) {
			return false
		}
		delay = min(delay*2, backoffMax)
	}
	r.publish()
	return true
}

func (r *podRun) volumeRefresher() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stopCh:
			return
		case <-t.C:
			if err := r.syncVolumes(r.ctx); err != nil {
				r.p.cfg.Logf("pod %s: refresh volumes: %v", r.key, err)
			}
		}
	}
}

func (r *podRun) fail(reason string, err error) {
	r.p.cfg.Logf("pod %s: %s: %v", r.key, reason, err)
	r.event(corev1.EventTypeWarning, reason, "%v", err)
	r.mu.Lock()
	for _, c := range r.ctrs {
		if c.status.State.Running == nil {
			c.status = waiting(c.spec, reason, err.Error())
		}
	}
	r.mu.Unlock()
	r.publish()
}

// runInit runs init containers one after the other; a failure is retried unless restartPolicy is Never.
func (r *podRun) runInit(imgs map[string]pulled) bool {
	for _, c := range r.spec.InitContainers {
		cr := r.ctrs[c.Name]
		delay := backoffBase
		for {
			code, err := r.runOnce(cr, imgs[c.Name])
			if r.isStopping() {
				return false
			}
			if err == nil && code == 0 {
				break
			}
			if r.spec.RestartPolicy == corev1.RestartPolicyNever {
				r.mu.Lock()
				r.pod.Status.Phase = corev1.PodFailed
				r.mu.Unlock()
				r.publish()
				return false
			}
			r.backoff(cr, delay)
			if !r.sleep(delay) {
				return false
			}
			delay = min(delay*2, backoffMax)
			r.mu.Lock()
			cr.status.RestartCount++
			r.mu.Unlock()
		}
	}
	return true
}

func (r *podRun) backoff(cr *ctrRun, delay time.Duration) {
	r.mu.Lock()
	last := cr.status.State
	cr.status.LastTerminationState = last
	cr.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason:  "CrashLoopBackOff",
		Message: fmt.Sprintf("back-off %s restarting failed container %s", delay, cr.spec.Name),
	}}
	cr.status.Ready = false
	r.mu.Unlock()
	r.publish()
}

// supervise runs a regular container until the pod stops or restartPolicy says it is done.
func (r *podRun) supervise(cr *ctrRun, img pulled) {
	delay := backoffBase
	for {
		start := time.Now()
		code, err := r.runOnce(cr, img)
		if r.isStopping() {
			return
		}
		if err != nil {
			r.p.cfg.Logf("pod %s container %s: %v", r.key, cr.spec.Name, err)
		}
		switch r.spec.RestartPolicy {
		case corev1.RestartPolicyNever:
			return
		case corev1.RestartPolicyOnFailure:
			if err == nil && code == 0 {
				return
			}
		}
		if time.Since(start) > backoffReset {
			delay = backoffBase
		}
		r.backoff(cr, delay)
		if !r.sleep(delay) {
			return
		}
		delay = min(delay*2, backoffMax)
		r.mu.Lock()
		cr.status.RestartCount++
		r.mu.Unlock()
	}
}

// runOnce starts the container's process, probes it, and waits for it to exit.
func (r *podRun) runOnce(cr *ctrRun, img pulled) (int, error) {
	pod := r.snapshot()
	c := &cr.spec
	spec, err := r.containerSpec(pod, c, img)
	if err != nil {
		var cfgErr configError
		reason := "CreateContainerError"
		if errors.As(err, &cfgErr) {
			reason = "CreateContainerConfigError"
		}
		r.setTerminatedWaiting(cr, reason, err)
		return -1, err
	}
	r.mu.Lock()
	if r.net != nil {
		spec.NetNS = r.net.Path()
	}
	r.mu.Unlock()
	specPath := filepath.Join(r.dir, c.Name+".spec.json")
	b, err := json.Marshal(spec)
	if err != nil {
		return -1, fmt.Errorf("encode spec of container %s: %w", c.Name, err)
	}
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return -1, err
	}
	logPath := r.logPath(c.Name)
	if _, err := os.Stat(logPath); err == nil {
		_ = os.Rename(logPath, r.previousLogPath(c.Name)) //nolint:errcheck // keeping the previous log (logs --previous) is best effort
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(r.p.cfg.AgentBinary, podinit.Arg, specPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = spec.Env
	flags := uintptr(syscall.CLONE_NEWNS)
	if !pod.Spec.HostNetwork {
		flags |= syscall.CLONE_NEWUTS
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: flags, Pdeathsig: 0}
	if err := cmd.Start(); err != nil {
		logf.Close() //nolint:errcheck // nothing was written through it
		r.setTerminatedWaiting(cr, "StartError", err)
		return -1, err
	}
	logf.Close() //nolint:errcheck // the child has its own descriptor; this copy only needs releasing
	pidFile := filepath.Join(r.dir, "pids", c.Name+".pid")
	if err := procs.WritePidFile(pidFile, cmd.Process.Pid); err != nil {
		// Without its pid file, down could not find the process once the agent is gone:
		// stop it and report the container as failing to start.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // the group may be gone already
		cmd.Wait()                                      //nolint:errcheck // reaping the process killed above
		r.setTerminatedWaiting(cr, "StartError", err)
		return -1, err
	}
	exited := make(chan struct{})
	kill := make(chan struct{}, 1)
	now := metav1.Now()
	r.mu.Lock()
	cr.pid = cmd.Process.Pid
	cr.exited = exited
	cr.started = c.StartupProbe == nil
	cr.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	cr.status.Ready = false
	cr.status.ContainerID = fmt.Sprintf("local://%d", cmd.Process.Pid)
	if cr.imageID != "" {
		cr.status.ImageID = cr.imageID
	}
	started := cr.started
	cr.status.Started = &started
	r.mu.Unlock()
	r.event(corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	r.publish()

	probeCtx, stopProbes := context.WithCancel(r.ctx)
	if !cr.init {
		go r.probeLoop(probeCtx, cr, kill)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var werr error
	killed := false
	select {
	case werr = <-waitErr:
	case <-kill:
		killed = true
		r.signalGroup(cmd.Process.Pid, r.graceFor(pod))
		werr = <-waitErr
	}
	close(exited)
	stopProbes()
	_ = os.Remove(pidFile) //nolint:errcheck // a stale pid file names a dead process; down checks its start time
	code := cmd.ProcessState.ExitCode()
	reason := "Completed"
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if code != 0 {
		reason = "Error"
	}
	if killed {
		r.event(corev1.EventTypeWarning, "Unhealthy", "Container %s failed liveness probe, will be restarted", c.Name)
	}
	r.mu.Lock()
	cr.pid = 0
	cr.status.Ready = false
	cr.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, StartedAt: now, FinishedAt: metav1.Now(),
		ContainerID: cr.status.ContainerID,
	}}
	r.mu.Unlock()
	r.publish()
	var exitErr *exec.ExitError
	if werr != nil && !errors.As(werr, &exitErr) {
		return code, werr
	}
	return code, nil
}

// configError marks a container start failure the kubelet reports as CreateContainerConfigError.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// containerSpec is what pod-init needs to start c: command, environment, mounts, and for an
// image its root filesystem, identity and the pod's sysctls.
func (r *podRun) containerSpec(pod *corev1.Pod, c *corev1.Container, img pulled) (podinit.Spec, error) {
	base := []string{"PATH=" + defaultPath}
	if img.img != nil {
		base = img.img.Config.Env
	}
	env, vars, err := r.p.containerEnvOver(pod, c, base)
	if err != nil {
		return podinit.Spec{}, configError{err}
	}
	var argv []string
	switch {
	case img.host:
		if len(c.Command) == 0 {
			return podinit.Spec{}, fmt.Errorf("image %s needs a command", HostImage)
		}
		argv = append(append([]string{}, c.Command...), c.Args...)
		p, err := exec.LookPath(argv[0])
		if err != nil {
			return podinit.Spec{}, err
		}
		argv[0] = p
	default:
		argv, err = imageArgv(img.img.Config, c.Command, c.Args)
	}
	if err != nil {
		return podinit.Spec{}, err
	}
	argv = append(argv[:1], expandAll(argv[1:], vars)...)
	mounts, err := r.mounts(pod, c)
	if err != nil {
		return podinit.Spec{}, configError{err}
	}
	spec := podinit.Spec{
		Hostname: podHostname(pod), Mounts: mounts, Dir: c.WorkingDir,
		Argv: argv, Env: env, CreatedDirsFile: r.p.cfg.CreatedDirsFile,
	}
	if img.host {
		return spec, nil
	}
	id, err := identity(pod, c, img.img)
	if err != nil {
		return podinit.Spec{}, configError{err}
	}
	sysctls, err := podSysctls(pod)
	if err != nil {
		return podinit.Spec{}, configError{err}
	}
	if spec.Dir == "" {
		spec.Dir = img.img.Config.WorkingDir
	}
	// A fresh upper layer per start: a restarted container sees its image as it was, as on
	// a real node.
	ctrDir := filepath.Join(r.dir, "containers", c.Name)
	if err := os.RemoveAll(ctrDir); err != nil {
		return podinit.Spec{}, err
	}
	readOnly := c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem
	spec.RootFS = &podinit.RootFS{
		Lower: img.img.Dir, Upper: filepath.Join(ctrDir, "upper"), Work: filepath.Join(ctrDir, "work"),
		Merged: filepath.Join(ctrDir, "rootfs"), ReadOnly: readOnly,
	}
	spec.Identity = id
	spec.Sysctls = sysctls
	spec.CreatedDirsFile = ""
	if !pod.Spec.HostNetwork {
		spec.Mounts = append(spec.Mounts, podinit.Mount{Source: filepath.Join(r.dir, "hostname"), Target: "/etc/hostname", ReadOnly: true})
	}
	return spec, nil
}

func (r *podRun) setTerminatedWaiting(cr *ctrRun, reason string, err error) {
	r.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
	r.mu.Lock()
	cr.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
	r.mu.Unlock()
	r.publish()
}

func (r *podRun) graceFor(pod *corev1.Pod) time.Duration {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// signalGroup sends SIGTERM to a container's process group, then SIGKILL after grace.
func (r *podRun) signalGroup(pid int, grace time.Duration) {
	procs.StopGroup(pid, grace)
}

// terminate stops every running container in parallel within the grace period.
func (r *podRun) terminate() {
	r.mu.Lock()
	grace := r.grace
	if !r.stopping {
		grace = 0
	}
	var pids []int
	for _, c := range r.ctrs {
		if c.pid > 0 {
			pids = append(pids, c.pid)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, pid := range pids {
		wg.Add(1)
		go func() { defer wg.Done(); procs.StopGroup(pid, grace) }()
	}
	wg.Wait()
}

// finish releases the network and records terminal statuses.
func (r *podRun) finish() {
	r.mu.Lock()
	pn := r.net
	ip := r.ip
	r.net = nil
	now := metav1.Now()
	failed := false
	for _, c := range r.ctrs {
		if c.status.State.Terminated == nil {
			c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown", FinishedAt: now,
				Message: "The container could not be located when the pod was terminated",
			}}
			if c.status.LastTerminationState.Terminated != nil || c.pid != 0 {
				c.status.State.Terminated.Reason = "Error"
			}
		}
		if !c.init && c.status.State.Terminated.ExitCode != 0 {
			failed = true
		}
		c.status.Ready = false
	}
	if r.pod.Status.Phase != corev1.PodFailed {
		if failed {
			r.pod.Status.Phase = corev1.PodFailed
		} else {
			r.pod.Status.Phase = corev1.PodSucceeded
		}
	}
	r.mu.Unlock()
	if pn != nil {
		if err := netns.DeletePod(*pn); err != nil {
			r.p.cfg.Logf("pod %s: delete network: %v", r.key, err)
		}
	}
	r.p.releaseIP(ip)
}

// refreshStatusLocked derives phase and conditions from the container statuses.
func (r *podRun) refreshStatusLocked() {
	st := &r.pod.Status
	st.InitContainerStatuses = st.InitContainerStatuses[:0]
	for _, c := range r.pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, r.ctrs[c.Name].status)
	}
	st.ContainerStatuses = st.ContainerStatuses[:0]
	running, terminated, ready, succeeded := 0, 0, 0, 0
	for _, c := range r.pod.Spec.Containers {
		cs := r.ctrs[c.Name].status
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			terminated++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		}
		if cs.Ready {
			ready++
		}
	}
	n := len(r.pod.Spec.Containers)
	if st.Phase != corev1.PodFailed && st.Phase != corev1.PodSucceeded {
		switch {
		case running > 0:
			st.Phase = corev1.PodRunning
		case terminated == n && n > 0 && (r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever ||
			(r.pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && succeeded == n)):
			if succeeded == n {
				st.Phase = corev1.PodSucceeded
			} else {
				st.Phase = corev1.PodFailed
			}
		}
	}
	allReady := n > 0 && ready == n
	st.Conditions = setCondition(st.Conditions, corev1.PodScheduled, corev1.ConditionTrue, "")
	if !hasCondition(st.Conditions, corev1.PodInitialized) {
		st.Conditions = setCondition(st.Conditions, corev1.PodInitialized, boolCond(len(r.pod.Spec.InitContainers) == 0), "")
	}
	if !hasCondition(st.Conditions, corev1.PodReadyToStartContainers) {
		st.Conditions = setCondition(st.Conditions, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "")
	}
	reason := ""
	if !allReady {
		reason = "ContainersNotReady"
	}
	st.Conditions = setCondition(st.Conditions, corev1.ContainersReady, boolCond(allReady), reason)
	st.Conditions = setCondition(st.Conditions, corev1.PodReady, boolCond(allReady && r.readinessGatesLocked()), reason)
}

func (r *podRun) readinessGatesLocked() bool {
	for _, g := range r.pod.Spec.ReadinessGates {
		ok := false
		for _, c := range r.pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func boolCond(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

func hasCondition(cs []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range cs {
		if c.Type == t {
			return true
		}
	}
	return false
}

func setCondition(cs []corev1.PodCondition, t corev1.PodConditionType, s corev1.ConditionStatus, reason string) []corev1.PodCondition {
	for i := range cs {
		if cs[i].Type == t {
			if cs[i].Status != s {
				cs[i].Status = s
				cs[i].LastTransitionTime = metav1.Now()
			}
			cs[i].Reason = reason
			return cs
		}
	}
	return append(cs, corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now()})
}

func (r *podRun) logPath(ctr string) string { return filepath.Join(r.dir, "logs", ctr+".log") }
func (r *podRun) previousLogPath(ctr string) string {
	return filepath.Join(r.dir, "logs", ctr+".previous.log")
}

// exec runs cmd inside the container's namespaces (nsenter from util-linux), with the
// container's environment.
func (r *podRun) exec(ctx context.Context, ctrName string, cmd []string, attach api.AttachIO) error {
	r.mu.Lock()
	cr := r.ctrs[ctrName]
	if cr == nil && len(r.pod.Spec.Containers) > 0 && ctrName == "" {
		cr = r.ctrs[r.pod.Spec.Containers[0].Name]
	}
	var pid int
	if cr != nil {
		pid = cr.pid
	}
	pod := r.pod.DeepCopy()
	r.mu.Unlock()
	if cr == nil {
		return fmt.Errorf("container %q not found in pod %s", ctrName, r.key)
	}
	if pid == 0 {
		return fmt.Errorf("container %q in pod %s is not running", ctrName, r.key)
	}
	env, _, err := r.p.containerEnv(pod, &cr.spec)
	if err != nil {
		return err
	}
	args := append([]string{"--target", fmt.Sprint(pid), "--mount", "--net", "--uts", "--"}, cmd...)
	if cr.spec.WorkingDir != "" {
		args = append([]string{"--wdns=" + cr.spec.WorkingDir}, args...)
	}
	c := exec.CommandContext(ctx, "nsenter", args...)
	c.Env = env
	if in := attach.Stdin(); in != nil {
		c.Stdin = in
	}
	if out := attach.Stdout(); out != nil {
		c.Stdout = out
	}
	if e := attach.Stderr(); e != nil {
		c.Stderr = e
	}
	return c.Run()
}

// deleteObject removes the pod object once its processes are gone, as the kubelet's status
// manager does; virtual-kubelet alone would wait out the whole grace period first.
func (r *podRun) deleteObject() {
	pod := r.snapshot()
	zero := int64(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.p.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		r.p.cfg.Logf("pod %s: delete object: %v", r.key, err)
	}
}
