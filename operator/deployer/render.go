package deployer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

const (
	// FieldManager owns the fields the operator applies.
	FieldManager = "agentgateway"
	// HashAnnotation holds a hash of the desired object; an unchanged hash means nothing
	// to apply.
	HashAnnotation = "agentgateway.dev/desired-hash"

	// NameLabel and the labels below are on every object the deployer makes, with
	// ProxyLabelValue and ManagedByValue as values. GatewayNameLabel is the label the
	// Gateway API recommends (GEP-1762), so tools can find a Gateway's workload.
	NameLabel        = "app.kubernetes.io/name"
	ProxyLabelValue  = "agentgateway-proxy" //nolint:revive // documented with NameLabel above
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "agentgateway-operator"
	GatewayNameLabel = "gateway.networking.k8s.io/gateway-name"
	GatewayClassLbl  = "gateway.networking.k8s.io/gateway-class-name"

	// HealthPort serves the proxy's /healthz and /ready on the pod IP, for the kubelet.
	HealthPort = 15021
	// MetricsPort serves the proxy's /metrics on the pod IP, for Prometheus. The proxy's
	// admin server (/config_dump, /debug/pprof) keeps its default, loopback address
	// 127.0.0.1:15000: it is reachable only from inside the pod and is no container port.
	MetricsPort = 15020
	// TokenAudience must match configserver.Audience; duplicated to keep this package
	// free of the gRPC server.
	TokenAudience = "agentgateway"
	tokenDir      = "/var/run/secrets/agentgateway"
	// xdsCADir holds ca.crt, the CA the config server's certificate must chain to.
	xdsCADir = "/var/run/agentgateway/xds-ca"
	// XDSCAKey is the key of the CA certificate in the ConfigMap XDSCAName names.
	XDSCAKey = "ca.crt"

	// proxyContainer names the proxy's container in the pod template.
	proxyContainer = "proxy"
	// ProxyContainer is proxyContainer for readers of the proxy pods.
	ProxyContainer = proxyContainer
	// proxyUID is the user and group proxies run as: the images' USER (nonroot, 65532).
	proxyUID = 65532
	// Requests of the proxy container when AgentgatewayParameters set no resources.
	defaultCPURequest    = "100m"
	defaultMemoryRequest = "128Mi"

	// drainSeconds covers the proxy's default --drain-period (5 s) and --drain-timeout
	// (30 s) with margin, so the kubelet never kills a draining proxy.
	drainSeconds = 45
)

// Options are the operator-wide settings.
type Options struct {
	// ProxyImage is the default proxy image (AgentgatewayParameters can override it).
	ProxyImage string
	// XDSAddress is where proxies reach the config server (host:port); its host is the name
	// proxies verify the server's certificate for.
	XDSAddress string
	// XDSCABundle is the PEM CA certificates the config server's certificate chains to. Render
	// puts it in a ConfigMap beside each proxy Deployment, which proxies trust for the stream.
	XDSCABundle string
	// XDSCABundleFunc, if set, is called at every Render for the bundle instead of
	// XDSCABundle: the CAs rotate (configserver.CAKeeper), and the kubelet updates the
	// mounted ConfigMap in place, so proxies trust the next CA without a restart.
	XDSCABundleFunc func() string
}

func (o Options) xdsCABundle() string {
	if o.XDSCABundleFunc != nil {
		return o.XDSCABundleFunc()
	}
	return o.XDSCABundle
}

// XDSCAName names the ConfigMap holding the config server's CA for a Gateway's proxies.
func XDSCAName(gateway string) string { return ProxyName(gateway) + "-xds-ca" }

// Port is one port the proxy listens on.
type Port struct {
	Name     string
	Port     int32
	Protocol corev1.Protocol
}

// Input is one Gateway and what shapes its workload.
type Input struct {
	Gateway *gwv1.Gateway
	// ClassParams and GatewayParams are the resolved AgentgatewayParameters of the class
	// and of the Gateway (nil when not referenced).
	ClassParams, GatewayParams *agwv1a1.AgentgatewayParametersSpec
	// Ports the proxy listens on (from translation; see PortsFromListeners for a fallback).
	Ports []Port
}

// ProxyName names the Deployment, Service and ServiceAccount of a Gateway. Names longer
// than a DNS label (63, the Service limit) are shortened with a hash suffix to stay unique.
func ProxyName(gateway string) string {
	name := gateway + "-agentgateway"
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(gateway))
	return strings.TrimRight(name[:54], "-.") + "-" + hex.EncodeToString(sum[:4])
}

// PortsFromListeners derives ports from the Gateway's own listeners (one per distinct
// port and transport), for when no translation result is at hand.
func PortsFromListeners(gw *gwv1.Gateway) []Port {
	seen := map[string]bool{}
	var ports []Port
	for _, l := range gw.Spec.Listeners {
		proto := corev1.ProtocolTCP
		if l.Protocol == gwv1.UDPProtocolType {
			proto = corev1.ProtocolUDP
		}
		name := fmt.Sprintf("%s-%d", strings.ToLower(string(proto)), l.Port)
		if seen[name] {
			continue
		}
		seen[name] = true
		ports = append(ports, Port{Name: name, Port: int32(l.Port), Protocol: proto})
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Name < ports[j].Name })
	return ports
}

// Render returns, in this order, the ServiceAccount, the ConfigMap with the config server's
// CA (XDSCAName), Deployment, Service (when there is a port to expose), PodDisruptionBudget
// (see PDBSettings) and HorizontalPodAutoscaler (when the parameters ask for one) of
// in.Gateway, with TypeMeta, owner reference and HashAnnotation set.
func Render(opts Options, in Input) ([]client.Object, error) {
	gw := in.Gateway
	caBundle := opts.xdsCABundle()
	if strings.TrimSpace(caBundle) == "" {
		return nil, fmt.Errorf("gateway %s/%s: no config server CA bundle to give its proxies", gw.Namespace, gw.Name)
	}
	p := mergeParams(in.ClassParams, in.GatewayParams)
	name := ProxyName(gw.Name)
	selector := map[string]string{NameLabel: ProxyLabelValue, GatewayNameLabel: gw.Name}
	labels := map[string]string{ManagedByLabel: ManagedByValue, GatewayClassLbl: string(gw.Spec.GatewayClassName)}
	annotations := map[string]string{}
	if inf := gw.Spec.Infrastructure; inf != nil {
		for k, v := range inf.Labels {
			labels[string(k)] = string(v)
		}
		for k, v := range inf.Annotations {
			annotations[string(k)] = string(v)
		}
	}
	// Ours last: a user label must not break the selector or our bookkeeping.
	maps.Copy(labels, selector)
	labels[ManagedByLabel] = ManagedByValue
	meta := func() metav1.ObjectMeta {
		m := metav1.ObjectMeta{
			Name: name, Namespace: gw.Namespace, Labels: maps.Clone(labels),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: gwv1.GroupVersion.String(), Kind: "Gateway", Name: gw.Name, UID: gw.UID, Controller: ptr.To(true),
			}},
		}
		if len(annotations) > 0 {
			m.Annotations = maps.Clone(annotations)
		}
		return m
	}

	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: meta(),
		// Proxies never call the Kubernetes API; only the projected, audience-bound token
		// (for the config server) is mounted.
		AutomountServiceAccountToken: ptr.To(false),
	}
	caMeta := meta()
	caMeta.Name = XDSCAName(gw.Name)
	caMap := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: caMeta,
		Data:       map[string]string{XDSCAKey: caBundle},
	}
	dep := renderDeployment(opts, in, p, meta(), selector, labels, annotations)
	var svc *corev1.Service
	if len(in.Ports) > 0 {
		svc = renderService(in, p, meta(), selector)
	}

	var overlays [3]*agwv1a1.Overlays
	if in.ClassParams != nil {
		overlays[0] = in.ClassParams.Overlays
	}
	if in.GatewayParams != nil {
		overlays[1] = in.GatewayParams.Overlays
	}
	for _, ov := range overlays {
		if ov == nil {
			continue
		}
		if err := overlay(sa, ov.ServiceAccount); err != nil {
			return nil, fmt.Errorf("gateway %s/%s: serviceAccount overlay: %w", gw.Namespace, gw.Name, err)
		}
		if err := overlay(dep, ov.Deployment); err != nil {
			return nil, fmt.Errorf("gateway %s/%s: deployment overlay: %w", gw.Namespace, gw.Name, err)
		}
		if svc != nil {
			if err := overlay(svc, ov.Service); err != nil {
				return nil, fmt.Errorf("gateway %s/%s: service overlay: %w", gw.Namespace, gw.Name, err)
			}
		}
	}
	objs := []client.Object{sa, caMap, dep}
	if svc != nil {
		objs = append(objs, svc)
	}
	if pdb := renderPDB(p, meta(), selector); pdb != nil {
		objs = append(objs, pdb)
	}
	if p.HorizontalPodAutoscaler != nil {
		// Checked after the overlays, which may set the resources.
		if !hasCPURequest(dep) {
			return nil, fmt.Errorf("gateway %s/%s: horizontalPodAutoscaler scales on CPU utilization, which needs a CPU request (or limit) on the proxy container", gw.Namespace, gw.Name)
		}
		objs = append(objs, renderHPA(p.HorizontalPodAutoscaler, meta()))
	}
	for _, o := range objs {
		if err := setHash(o); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

func renderDeployment(opts Options, in Input, p agwv1a1.AgentgatewayParametersSpec, meta metav1.ObjectMeta, selector, labels, annotations map[string]string) *appsv1.Deployment {
	gw := in.Gateway
	level, format, accessLog := "info", "json", true
	if p.Logging != nil {
		if p.Logging.Level != nil {
			level = string(*p.Logging.Level)
		}
		if p.Logging.Format != nil {
			format = string(*p.Logging.Format)
		}
		accessLog = ptr.Deref(p.Logging.AccessLog, agwv1a1.AccessLogEnabled) != agwv1a1.AccessLogDisabled
	}
	var ports []corev1.ContainerPort
	for _, pt := range in.Ports {
		ports = append(ports, corev1.ContainerPort{Name: pt.Name, ContainerPort: pt.Port, Protocol: pt.Protocol})
	}
	ports = append(ports,
		corev1.ContainerPort{Name: "health", ContainerPort: HealthPort, Protocol: corev1.ProtocolTCP},
		corev1.ContainerPort{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP})
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	env = append(env, p.Env...)
	c := corev1.Container{
		Name:            proxyContainer,
		Image:           image(opts.ProxyImage, p.Image),
		ImagePullPolicy: ptr.Deref(ptrIf(p.Image, func(i *agwv1a1.Image) *corev1.PullPolicy { return i.PullPolicy }), ""),
		Args: []string{
			"--xds-address=" + opts.XDSAddress,
			"--xds-ca-file=" + xdsCADir + "/" + XDSCAKey,
			"--gateway=" + gw.Name,
			"--token-file=" + tokenDir + "/token",
			fmt.Sprintf("--health-addr=0.0.0.0:%d", HealthPort),
			fmt.Sprintf("--metrics-addr=0.0.0.0:%d", MetricsPort),
			"--log-level=" + level,
			"--log-format=" + format,
			fmt.Sprintf("--access-log=%t", accessLog),
		},
		Env:   env,
		Ports: ports,
		// The health server listens on the pod IP (--health-addr above), where the kubelet
		// probes; the admin server (config dump, profiling) stays on loopback. /healthz
		// answers while the process runs; /ready once a config is applied and not while
		// draining. The startup probe gives a slow start (image pull done,
		// process starting) 30 s before liveness counts; it checks /healthz, not /ready, so a
		// proxy waiting for an unreachable operator is not restarted in a loop.
		StartupProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("health")}},
			PeriodSeconds:    1,
			FailureThreshold: 30,
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("health")}},
			PeriodSeconds:    2,
			FailureThreshold: 2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("health")}},
			PeriodSeconds:    10,
			TimeoutSeconds:   5,
			FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "agentgateway-token", MountPath: tokenDir, ReadOnly: true},
			{Name: "agentgateway-xds-ca", MountPath: xdsCADir, ReadOnly: true},
		},
		// The proxy writes no files (no temporary files, logs to stderr), so the root
		// filesystem is read-only and there is no writable volume.
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(defaultCPURequest),
			corev1.ResourceMemory: resource.MustParse(defaultMemoryRequest),
		}},
	}
	if p.Resources != nil {
		c.Resources = *p.Resources
	}
	replicas := p.Replicas
	if p.HorizontalPodAutoscaler != nil {
		// Left out of the applied configuration so the autoscaler alone owns the field
		// (Applier hands the live count over instead of letting it drop to the default).
		replicas = nil
	}
	podMeta := metav1.ObjectMeta{Labels: maps.Clone(labels)}
	if len(annotations) > 0 {
		podMeta.Annotations = maps.Clone(annotations)
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			// Nil leaves the live count alone (1 for a new Deployment) or to the autoscaler.
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta,
				Spec: corev1.PodSpec{
					ServiceAccountName:            meta.Name,
					AutomountServiceAccountToken:  ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To[int64](drainSeconds),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true),
						RunAsUser:    ptr.To[int64](proxyUID),
						RunAsGroup:   ptr.To[int64](proxyUID),
						// Group-owns the projected token, whatever mode the kubelet gives it.
						FSGroup:        ptr.To[int64](proxyUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						// Listeners bind ports such as 80 and 443 without root or capabilities (see
						// the package doc). Set whatever the ports are: the sysctl only reaches the
						// pod's own network namespace, and a pod template that does not depend on
						// the port numbers does not roll the proxies when a listener moves across
						// 1024.
						Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
					},
					TopologySpreadConstraints: spread(selector),
					Containers:                []corev1.Container{c},
					Volumes: []corev1.Volume{{
						Name: "agentgateway-token",
						VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
							Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
								Audience: TokenAudience, ExpirationSeconds: ptr.To[int64](3600), Path: "token",
							}}},
						}},
					}, {
						// Updated in place when the CA changes; the proxy reads it on every dial.
						Name: "agentgateway-xds-ca",
						VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: XDSCAName(gw.Name)},
						}},
					}},
				},
			},
		},
	}
}

func renderService(in Input, p agwv1a1.AgentgatewayParametersSpec, meta metav1.ObjectMeta, selector map[string]string) *corev1.Service {
	gw := in.Gateway
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: selector,
		},
	}
	if s := p.Service; s != nil {
		if s.Type != nil {
			svc.Spec.Type = *s.Type
		}
		if len(s.Annotations) > 0 {
			if svc.Annotations == nil {
				svc.Annotations = map[string]string{}
			}
			maps.Copy(svc.Annotations, s.Annotations)
		}
	}
	// Routability Cluster (GEP-5093): a Gateway that asks only for cluster addresses gets a
	// ClusterIP Service, reachable from inside the cluster only.
	if ClusterOnly(gw) {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if s := p.Service; s != nil && s.ExternalTrafficPolicy != nil && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = *s.ExternalTrafficPolicy
	}
	for _, pt := range in.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: pt.Name, Port: pt.Port, Protocol: pt.Protocol, TargetPort: intstr.FromInt32(pt.Port),
		})
	}
	// Static addresses: a LoadBalancer Service asks its load balancer for the first IP (the
	// only one spec.loadBalancerIP can carry; the status writer reports any address the load
	// balancer did not assign as AddressNotUsable). Other Service types get the IPs as
	// external IPs, routed to the Service by kube-proxy.
	ips := StaticIPs(gw)
	switch {
	case len(ips) > 0 && svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		svc.Spec.LoadBalancerIP = ips[0]
	case len(ips) > 0:
		svc.Spec.ExternalIPs = ips
	}
	return svc
}

// StaticIPs are the IP addresses a Gateway asks for in spec.addresses (type IPAddress or
// unset, with a value, of the default routability); an address without a value asks for any
// address. A value with routability Cluster is the Service's cluster IP or unsatisfied, never
// a load balancer or external IP.
func StaticIPs(gw *gwv1.Gateway) []string {
	var ips []string
	for _, a := range gw.Spec.Addresses {
		if (a.Type == nil || *a.Type == gwv1.IPAddressType) && DefaultRoutability(a.Routability) && validIP(a.Value) {
			ips = append(ips, a.Value)
		}
	}
	return ips
}

func validIP(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

// mergeParams returns class params overridden field by field by the Gateway's.
func mergeParams(class, gw *agwv1a1.AgentgatewayParametersSpec) agwv1a1.AgentgatewayParametersSpec {
	var out agwv1a1.AgentgatewayParametersSpec
	if class != nil {
		out = *class.DeepCopy()
	}
	if gw == nil {
		return out
	}
	g := gw.DeepCopy()
	if g.Image != nil {
		if out.Image == nil {
			out.Image = &agwv1a1.Image{}
		}
		out.Image.Registry = firstNonNil(g.Image.Registry, out.Image.Registry)
		out.Image.Repository = firstNonNil(g.Image.Repository, out.Image.Repository)
		out.Image.Tag = firstNonNil(g.Image.Tag, out.Image.Tag)
		out.Image.PullPolicy = firstNonNil(g.Image.PullPolicy, out.Image.PullPolicy)
	}
	// Replicas and the autoscaler are one choice: the Gateway's choice replaces the class's.
	switch {
	case g.Replicas != nil:
		out.Replicas, out.HorizontalPodAutoscaler = g.Replicas, nil
	case g.HorizontalPodAutoscaler != nil:
		out.Replicas, out.HorizontalPodAutoscaler = nil, g.HorizontalPodAutoscaler
	}
	// A budget is minAvailable or maxUnavailable, never both: it is replaced as a whole.
	out.PodDisruptionBudget = firstNonNil(g.PodDisruptionBudget, out.PodDisruptionBudget)
	out.Resources = firstNonNil(g.Resources, out.Resources)
	// Env merges by name: the Gateway's variable replaces the class's of the same name.
	for _, e := range g.Env {
		i := -1
		for j := range out.Env {
			if out.Env[j].Name == e.Name {
				i = j
			}
		}
		if i >= 0 {
			out.Env[i] = e
		} else {
			out.Env = append(out.Env, e)
		}
	}
	if g.Logging != nil {
		if out.Logging == nil {
			out.Logging = &agwv1a1.Logging{}
		}
		out.Logging.Level = firstNonNil(g.Logging.Level, out.Logging.Level)
		out.Logging.Format = firstNonNil(g.Logging.Format, out.Logging.Format)
		out.Logging.AccessLog = firstNonNil(g.Logging.AccessLog, out.Logging.AccessLog)
	}
	if g.Service != nil {
		if out.Service == nil {
			out.Service = &agwv1a1.ServiceSettings{}
		}
		out.Service.Type = firstNonNil(g.Service.Type, out.Service.Type)
		out.Service.ExternalTrafficPolicy = firstNonNil(g.Service.ExternalTrafficPolicy, out.Service.ExternalTrafficPolicy)
		if len(g.Service.Annotations) > 0 {
			if out.Service.Annotations == nil {
				out.Service.Annotations = map[string]string{}
			}
			maps.Copy(out.Service.Annotations, g.Service.Annotations)
		}
	}
	// Overlays are applied one after the other by Render, not merged here.
	out.Overlays = nil
	return out
}

func firstNonNil[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

func ptrIf[T, U any](p *T, f func(*T) *U) *U {
	if p == nil {
		return nil
	}
	return f(p)
}

// image builds registry/repository:tag, each part defaulting to the operator's image.
func image(def string, img *agwv1a1.Image) string {
	if img == nil || (img.Registry == nil && img.Repository == nil && img.Tag == nil) {
		return def
	}
	repo, tag := def, ""
	if i := strings.LastIndex(def, ":"); i > strings.LastIndex(def, "/") {
		repo, tag = def[:i], def[i+1:]
	}
	registry := ""
	if i := strings.Index(repo, "/"); i > 0 && strings.ContainsAny(repo[:i], ".:") {
		registry, repo = repo[:i], repo[i+1:]
	}
	registry = ptr.Deref(img.Registry, registry)
	repo = ptr.Deref(img.Repository, repo)
	tag = ptr.Deref(img.Tag, tag)
	out := repo
	if registry != "" {
		out = registry + "/" + repo
	}
	if tag != "" {
		out += ":" + tag
	}
	return out
}

// overlay applies a strategic-merge patch to obj in place.
func overlay(obj client.Object, patch *runtime.RawExtension) error {
	if patch == nil || len(patch.Raw) == 0 || string(patch.Raw) == "null" {
		return nil
	}
	pj := patch.Raw
	orig, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, pj, obj)
	if err != nil {
		return fmt.Errorf("apply strategic merge patch: %w", err)
	}
	// Decode into a zeroed object so fields the patch removed are really gone.
	gvk := obj.GetObjectKind().GroupVersionKind()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		*o = appsv1.Deployment{}
	case *corev1.Service:
		*o = corev1.Service{}
	case *corev1.ServiceAccount:
		*o = corev1.ServiceAccount{}
	case *corev1.ConfigMap:
		*o = corev1.ConfigMap{}
	}
	if err := json.Unmarshal(merged, obj); err != nil {
		return fmt.Errorf("decode patched object: %w", err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}

// setHash records a hash of the desired object in HashAnnotation.
func setHash(obj client.Object) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("hash %s: %w", obj.GetName(), err)
	}
	sum := sha256.Sum256(b)
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[HashAnnotation] = hex.EncodeToString(sum[:8])
	obj.SetAnnotations(a)
	return nil
}
