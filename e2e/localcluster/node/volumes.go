package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster/podinit"
)

// volumeDir is where a volume's content lives on the host before it is bound into the pod.
func (r *podRun) volumeDir(name string) string { return filepath.Join(r.dir, "volumes", name) }

// syncVolumes writes every volume's files. It runs before the first container starts and then
// periodically, so Secret and ConfigMap updates and token rotation reach running pods as they
// do on a kubelet. Files are replaced by rename, so readers never see half a file.
func (r *podRun) syncVolumes(ctx context.Context) error {
	pod := r.snapshot()
	for _, v := range pod.Spec.Volumes {
		dir := r.volumeDir(v.Name)
		if v.HostPath != nil {
			if v.HostPath.Type != nil && (*v.HostPath.Type == corev1.HostPathDirectoryOrCreate) {
				if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
					return fmt.Errorf("hostPath volume %q: %w", v.Name, err)
				}
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		var files map[string]file
		var err error
		switch {
		case v.EmptyDir != nil:
			// World-writable like the kubelet's, so a container of any user can write it;
			// with an fsGroup, owned by that group with setgid.
			if err := os.Chmod(dir, 0o777); err != nil {
				return err
			}
			if err := fsGroupOwn(pod, dir, true); err != nil {
				return fmt.Errorf("volume %q: %w", v.Name, err)
			}
			continue
		case v.Secret != nil:
			files, err = r.secretFiles(pod, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
		case v.ConfigMap != nil:
			files, err = r.configMapFiles(pod, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
		case v.DownwardAPI != nil:
			files, err = r.downwardFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			files, err = r.projectedFiles(ctx, pod, v.Name, v.Projected)
		default:
			return fmt.Errorf("volume %q: only emptyDir, hostPath, secret, configMap, downwardAPI and projected volumes are supported by the local node", v.Name)
		}
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if err := writeFiles(dir, files); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if err := fsGroupOwn(pod, dir, false); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
	}
	return nil
}

// fsGroupOwn gives the pod's fsGroup the volume at dir as the kubelet does: group ownership
// of every entry, group read (and write for writable volumes), setgid on directories.
func fsGroupOwn(pod *corev1.Pod, dir string, writable bool) error {
	if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.FSGroup == nil {
		return nil
	}
	gid := int(*pod.Spec.SecurityContext.FSGroup)
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m := fi.Mode()
		add := os.FileMode(0o040)
		if writable {
			add |= 0o020
		}
		if d.IsDir() {
			add |= 0o010 | os.ModeSetgid
		} else if m&0o100 != 0 {
			add |= 0o010
		}
		if m|add == m {
			return nil
		}
		return os.Chmod(p, m.Perm()|m&(os.ModeSetgid|os.ModeSetuid|os.ModeSticky)|add)
	})
}

type file struct {
	data []byte
	mode os.FileMode
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m != nil {
		return os.FileMode(*m)
	}
	return def
}

func keyItems(data map[string][]byte, items []corev1.KeyToPath, defMode *int32) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{v, mode(defMode, 0o644)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("key %q not found", it.Key)
		}
		m := mode(defMode, 0o644)
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = file{v, m}
	}
	return out, nil
}

func (r *podRun) secretFiles(pod *corev1.Pod, name string, items []corev1.KeyToPath, defMode *int32, opt *bool) (map[string]file, error) {
	s, err := r.p.cfg.Secrets.Secrets(pod.Namespace).Get(name)
	if err != nil {
		if optional(opt) && apierrors.IsNotFound(err) {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return keyItems(s.Data, items, defMode)
}

func (r *podRun) configMapFiles(pod *corev1.Pod, name string, items []corev1.KeyToPath, defMode *int32, opt *bool) (map[string]file, error) {
	cm, err := r.p.cfg.ConfigMaps.ConfigMaps(pod.Namespace).Get(name)
	if err != nil {
		if optional(opt) && apierrors.IsNotFound(err) {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyItems(data, items, defMode)
}

func (r *podRun) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = r.p.resourceValue(pod, &pod.Spec.Containers[0], it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		m := mode(defMode, 0o644)
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = file{[]byte(v), m}
	}
	return out, nil
}

func (r *podRun) projectedFiles(ctx context.Context, pod *corev1.Pod, volName string, pv *corev1.ProjectedVolumeSource) (map[string]file, error) {
	out := map[string]file{}
	merge := func(m map[string]file) {
		for k, v := range m {
			out[k] = v
		}
	}
	for _, src := range pv.Sources {
		switch {
		case src.Secret != nil:
			m, err := r.secretFiles(pod, src.Secret.Name, src.Secret.Items, pv.DefaultMode, src.Secret.Optional)
			if err != nil {
				return nil, err
			}
			merge(m)
		case src.ConfigMap != nil:
			m, err := r.configMapFiles(pod, src.ConfigMap.Name, src.ConfigMap.Items, pv.DefaultMode, src.ConfigMap.Optional)
			if err != nil {
				return nil, err
			}
			merge(m)
		case src.DownwardAPI != nil:
			m, err := r.downwardFiles(pod, src.DownwardAPI.Items, pv.DefaultMode)
			if err != nil {
				return nil, err
			}
			merge(m)
		case src.ServiceAccountToken != nil:
			tok, err := r.token(ctx, pod, volName, src.ServiceAccountToken)
			if err != nil {
				return nil, err
			}
			out[src.ServiceAccountToken.Path] = file{[]byte(tok), mode(pv.DefaultMode, 0o600)}
		}
	}
	return out, nil
}

// token returns a bound service-account token, renewed after 80% of its lifetime like the kubelet does.
func (r *podRun) token(ctx context.Context, pod *corev1.Pod, volName string, src *corev1.ServiceAccountTokenProjection) (string, error) {
	key := volName + "/" + src.Path
	r.mu.Lock()
	t, ok := r.tokens[key]
	r.mu.Unlock()
	if ok && time.Now().Before(t.renewAt) {
		return t.value, nil
	}
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	var auds []string
	if src.Audience != "" {
		auds = []string{src.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := r.p.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         auds,
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	life := time.Until(tr.Status.ExpirationTimestamp.Time)
	r.mu.Lock()
	r.tokens[key] = cachedToken{value: tr.Status.Token, renewAt: time.Now().Add(life * 8 / 10)}
	r.mu.Unlock()
	return tr.Status.Token, nil
}

func writeFiles(dir string, files map[string]file) error {
	for rel, f := range files {
		if strings.Contains(rel, "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("invalid volume path %q", rel)
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if old, err := os.ReadFile(p); err == nil && string(old) == string(f.data) {
			continue
		}
		tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp")
		if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(tmp, f.mode); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
	}
	return nil
}

// mounts lists the binds of one container: its volumeMounts plus the pod's resolv.conf and hosts.
func (r *podRun) mounts(pod *corev1.Pod, c *corev1.Container) ([]podinit.Mount, error) {
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	var out []podinit.Mount
	if !pod.Spec.HostNetwork {
		out = append(out,
			podinit.Mount{Source: filepath.Join(r.dir, "resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true},
			podinit.Mount{Source: filepath.Join(r.dir, "hosts"), Target: "/etc/hosts", ReadOnly: true},
		)
	}
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume", vm.Name)
		}
		src := r.volumeDir(vm.Name)
		ro := vm.ReadOnly
		switch {
		case v.HostPath != nil:
			src = v.HostPath.Path
		case v.EmptyDir != nil:
		default:
			// Like the kubelet: API-backed volumes are always read-only.
			ro = true
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, vm.SubPath)
			if v.EmptyDir != nil {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, podinit.Mount{Source: src, Target: vm.MountPath, ReadOnly: ro})
	}
	return out, nil
}

// writeNetworkFiles writes the pod's resolv.conf (cluster DNS first) and hosts file.
func (r *podRun) writeNetworkFiles(pod *corev1.Pod) error {
	ns := pod.Namespace
	d := r.p.cfg.ClusterDomain
	servers := []string{r.p.cfg.DNSIP}
	search := []string{ns + ".svc." + d, "svc." + d, d}
	opts := []string{"ndots:5"}
	if pod.Spec.DNSPolicy == corev1.DNSNone {
		servers, search, opts = nil, nil, nil
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		search = append(search, dc.Searches...)
		for _, o := range dc.Options {
			if o.Value != nil {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
	}
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	if err := os.WriteFile(filepath.Join(r.dir, "resolv.conf"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	host := podHostname(pod)
	fqdn := host
	if pod.Spec.Subdomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s", host, pod.Spec.Subdomain, ns, d)
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s %s\n", pod.Status.PodIP, fqdn, host)
	for _, ha := range pod.Spec.HostAliases {
		hosts += ha.IP + "\t" + strings.Join(ha.Hostnames, " ") + "\n"
	}
	if err := os.WriteFile(filepath.Join(r.dir, "hostname"), []byte(host+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.dir, "hosts"), []byte(hosts), 0o644)
}
