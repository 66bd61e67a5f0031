package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/rootfs"
)

func TestImageArgvFollowsKubernetesRules(t *testing.T) {
	cfg := v1.Config{Entrypoint: []string{"/echo"}, Cmd: []string{"-default"}}
	for _, tc := range []struct {
		command, args, want []string
	}{
		{nil, nil, []string{"/echo", "-default"}},
		{nil, []string{"-x"}, []string{"/echo", "-x"}},
		{[]string{"/other"}, nil, []string{"/other"}},
		{[]string{"/other"}, []string{"-y"}, []string{"/other", "-y"}},
	} {
		got, err := imageArgv(cfg, tc.command, tc.args)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("imageArgv(%v, %v) = %v, %v; want %v", tc.command, tc.args, got, err, tc.want)
		}
	}
	if _, err := imageArgv(v1.Config{}, nil, []string{"x"}); err != nil {
		t.Errorf("args alone with no entrypoint run the args: %v", err)
	}
	if _, err := imageArgv(v1.Config{}, nil, nil); err == nil {
		t.Error("no entrypoint, cmd or command: want an error")
	}
}

func testImage(t *testing.T, user string) *rootfs.Image {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &rootfs.Image{Dir: dir, Config: v1.Config{User: user}}
}

func TestIdentityFromImageAndSecurityContext(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes, no := true, false
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{FSGroup: i64(2000)}}}
	c := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
	}}
	id, err := identity(pod, c, testImage(t, "65532:65532"))
	if err != nil {
		t.Fatal(err)
	}
	if id.UID != 65532 || id.GID != 65532 || !reflect.DeepEqual(id.Groups, []uint32{65532, 2000}) ||
		!reflect.DeepEqual(id.Caps, []int{unix.CAP_NET_BIND_SERVICE}) || !reflect.DeepEqual(id.Ambient, []int{unix.CAP_NET_BIND_SERVICE}) || !id.NoNewPrivs {
		t.Errorf("identity = %+v", id)
	}
	// A name in the image's passwd, primary group from it.
	if id, err := identity(&corev1.Pod{}, &corev1.Container{}, testImage(t, "nonroot")); err != nil || id.UID != 65532 || id.GID != 65532 || len(id.Caps) != len(defaultCaps) || len(id.Ambient) != 0 {
		t.Errorf("identity(nonroot) = %+v, %v", id, err)
	}
	// runAsUser overrides the image.
	c2 := &corev1.Container{SecurityContext: &corev1.SecurityContext{RunAsUser: i64(1234)}}
	if id, err := identity(&corev1.Pod{}, c2, testImage(t, "65532")); err != nil || id.UID != 1234 || id.GID != 0 {
		t.Errorf("runAsUser 1234 = %+v, %v", id, err)
	}
	nonRoot := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes}}}
	if _, err := identity(nonRoot, &corev1.Container{Name: "c"}, testImage(t, "")); err == nil || !strings.Contains(err.Error(), "runAsNonRoot and image will run as root") {
		t.Errorf("runAsNonRoot with a root image: %v", err)
	}
	if _, err := identity(nonRoot, &corev1.Container{Name: "c"}, testImage(t, "nonroot")); err == nil || !strings.Contains(err.Error(), "non-numeric user") {
		t.Errorf("runAsNonRoot with a named user: %v", err)
	}
	bad := &corev1.Container{SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NOT_A_CAP"}}}}
	if _, err := identity(&corev1.Pod{}, bad, testImage(t, "")); err == nil {
		t.Error("unknown capability accepted")
	}
	local := &corev1.Container{SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}}
	if _, err := identity(&corev1.Pod{}, local, testImage(t, "")); err == nil {
		t.Error("seccomp Localhost accepted")
	}
}

func TestPodSysctlsOnlyNetworkNamespace(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{
		Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
	}}}
	got, err := podSysctls(pod)
	if err != nil || got["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Fatalf("podSysctls = %v, %v", got, err)
	}
	pod.Spec.SecurityContext.Sysctls = append(pod.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: "kernel.shm_rmid_forced", Value: "1"})
	if _, err := podSysctls(pod); err == nil {
		t.Error("kernel.* sysctl accepted")
	}
}
