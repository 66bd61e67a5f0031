package node

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
)

// defaultPath stands in for the PATH an image would set: commands fall back to host binaries.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerEnv resolves a container's environment the way the kubelet does: service links
// first, then envFrom, then env in order with $(VAR) expansion against what came before.
// virtual-kubelet's own resolution is switched off because it cannot know the pod IP yet and
// drops resourceFieldRef.
func (p *Provider) containerEnv(pod *corev1.Pod, c *corev1.Container) ([]string, map[string]string, error) {
	return p.containerEnvOver(pod, c, []string{"PATH=" + defaultPath})
}

// containerEnvOver is containerEnv over base, the image's environment: the container's
// variables replace the image's of the same name.
func (p *Provider) containerEnvOver(pod *corev1.Pod, c *corev1.Container, base []string) ([]string, map[string]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	set("HOSTNAME", podHostname(pod))
	for k, v := range p.serviceEnv(pod) {
		set(k, v)
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := p.cfg.ConfigMaps.ConfigMaps(pod.Namespace).Get(ef.ConfigMapRef.Name)
			if err != nil {
				if optional(ef.ConfigMapRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, nil, fmt.Errorf("envFrom configmap %q: %w", ef.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				set(ef.Prefix+k, v)
			}
		case ef.SecretRef != nil:
			s, err := p.cfg.Secrets.Secrets(pod.Namespace).Get(ef.SecretRef.Name)
			if err != nil {
				if optional(ef.SecretRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, nil, fmt.Errorf("envFrom secret %q: %w", ef.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				set(ef.Prefix+k, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars))
			continue
		}
		v, ok, err := p.envValueFrom(pod, c, e.ValueFrom)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, vars, nil
}

func optional(b *bool) bool { return b != nil && *b }

func (p *Provider) envValueFrom(pod *corev1.Pod, c *corev1.Container, vf *corev1.EnvVarSource) (string, bool, error) {
	switch {
	case vf.FieldRef != nil:
		v, err := fieldValue(pod, vf.FieldRef.FieldPath)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := p.resourceValue(pod, c, vf.ResourceFieldRef)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		cm, err := p.cfg.ConfigMaps.ConfigMaps(pod.Namespace).Get(r.Name)
		if err != nil {
			if optional(r.Optional) && apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q: %w", r.Name, err)
		}
		if v, ok := cm.Data[r.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[r.Key]; ok {
			return string(v), true, nil
		}
		if optional(r.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configmap %q has no key %q", r.Name, r.Key)
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		s, err := p.cfg.Secrets.Secrets(pod.Namespace).Get(r.Name)
		if err != nil {
			if optional(r.Optional) && apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q: %w", r.Name, err)
		}
		if v, ok := s.Data[r.Key]; ok {
			return string(v), true, nil
		}
		if optional(r.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("secret %q has no key %q", r.Name, r.Key)
	}
	return "", false, nil
}

// fieldValue implements the downward API field paths.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return pod.Status.HostIP, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	}
	return "", fmt.Errorf("unsupported downward API field %q", path)
}

func subscript(path, prefix string) (string, bool) {
	if !strings.HasPrefix(path, prefix+"['") || !strings.HasSuffix(path, "']") {
		return "", false
	}
	return path[len(prefix)+2 : len(path)-2], true
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

// resourceValue implements resourceFieldRef; unset limits default to the node's allocatable,
// as on a kubelet.
func (p *Provider) resourceValue(pod *corev1.Pod, c *corev1.Container, r *corev1.ResourceFieldSelector) (string, error) {
	if r.ContainerName != "" {
		c = findContainer(pod, r.ContainerName)
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef names unknown container %q", r.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(r.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resource %q", r.Resource)
	}
	rn := corev1.ResourceName(name)
	var q resource.Quantity
	var found bool
	switch kind {
	case "limits":
		q, found = c.Resources.Limits[rn]
	case "requests":
		q, found = c.Resources.Requests[rn]
	default:
		return "", fmt.Errorf("unsupported resource %q", r.Resource)
	}
	if !found || q.IsZero() {
		if kind == "requests" {
			q = resource.Quantity{}
		} else {
			q = p.allocatable[rn]
		}
	}
	divisor := r.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if rn == corev1.ResourceCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// serviceEnv returns the Docker-link style variables of Services: always the apiserver's
// (KUBERNETES_SERVICE_HOST/PORT, which in-cluster clients need), and those of the pod's
// namespace unless enableServiceLinks is false.
func (p *Provider) serviceEnv(pod *corev1.Pod) map[string]string {
	out := map[string]string{}
	add := func(s *corev1.Service) {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			return
		}
		n := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		out[n+"_SERVICE_HOST"] = s.Spec.ClusterIP
		out[n+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
		for _, sp := range s.Spec.Ports {
			if sp.Name != "" {
				out[n+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(sp.Name, "-", "_"))] = strconv.Itoa(int(sp.Port))
			}
			proto := strings.ToLower(string(sp.Protocol))
			base := fmt.Sprintf("%s_PORT_%d_%s", n, sp.Port, strings.ToUpper(proto))
			out[base] = fmt.Sprintf("%s://%s:%d", proto, s.Spec.ClusterIP, sp.Port)
			out[base+"_PROTO"] = proto
			out[base+"_PORT"] = strconv.Itoa(int(sp.Port))
			out[base+"_ADDR"] = s.Spec.ClusterIP
		}
		first := s.Spec.Ports[0]
		out[n+"_PORT"] = fmt.Sprintf("%s://%s:%d", strings.ToLower(string(first.Protocol)), s.Spec.ClusterIP, first.Port)
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		if svcs, err := p.cfg.Services.Services(pod.Namespace).List(labels.Everything()); err == nil {
			for _, s := range svcs {
				add(s)
			}
		}
	}
	if s, err := p.cfg.Services.Services("default").Get("kubernetes"); err == nil {
		add(s)
	} else {
		// The informer may not have synced yet; the apiserver's address is known anyway.
		out["KUBERNETES_SERVICE_HOST"] = p.cfg.KubernetesServiceIP
		out["KUBERNETES_SERVICE_PORT"] = "443"
		out["KUBERNETES_SERVICE_PORT_HTTPS"] = "443"
		out["KUBERNETES_PORT"] = "tcp://" + p.cfg.KubernetesServiceIP + ":443"
	}
	return out
}

// expand implements $(VAR) references; $$ escapes, unknown references stay as written.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func expandAll(in []string, vars map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

func podHostname(pod *corev1.Pod) string {
	h := pod.Name
	if pod.Spec.Hostname != "" {
		h = pod.Spec.Hostname
	}
	if len(h) > 63 {
		h = h[:63]
	}
	return h
}
