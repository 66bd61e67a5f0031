package provider

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/operator/translate"
)

// NewScheme returns a scheme with every type the operator reads or writes.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwv1.Install, gwv1b1.Install, gwxv1a1.Install, mcsv1a1.Install, agwv1a1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// input is one watched kind and how to copy its cached objects into a Snapshot.
type input struct {
	gvk schema.GroupVersionKind
	obj client.Object
	// optional kinds are skipped when their CRD is missing.
	optional bool
	// fill lists the kind from r into s.
	fill func(ctx context.Context, r client.Reader, s *translate.Snapshot) error
}

func gwGVK(kind string) schema.GroupVersionKind {
	return schema.GroupVersion(gwv1.GroupVersion).WithKind(kind)
}

// inputs lists everything translation reads. The lists are shallow copies of the cache's
// objects (no deep copy: copying every route, Service and Secret of the cluster on every
// change cost a third of a translation), so a Snapshot is read-only: translation never
// mutates it (its golden tests check that), the status loop and the deployer only read it,
// and anything that needs to change an object copies it first. Informers replace cached
// objects on update rather than modifying them, so a Snapshot stays consistent while it is
// in use.
var inputs = []input{
	{gwGVK("GatewayClass"), &gwv1.GatewayClass{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.GatewayClassList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.GatewayClasses = l.Items
		return err
	}},
	{gwGVK("Gateway"), &gwv1.Gateway{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.GatewayList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Gateways = l.Items
		return err
	}},
	{gwGVK("ListenerSet"), &gwv1.ListenerSet{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.ListenerSetList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.ListenerSets = l.Items
		return err
	}},
	{gwGVK("HTTPRoute"), &gwv1.HTTPRoute{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.HTTPRouteList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.HTTPRoutes = l.Items
		return err
	}},
	{gwGVK("GRPCRoute"), &gwv1.GRPCRoute{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.GRPCRouteList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.GRPCRoutes = l.Items
		return err
	}},
	{gwGVK("TLSRoute"), &gwv1.TLSRoute{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.TLSRouteList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.TLSRoutes = l.Items
		return err
	}},
	{gwGVK("TCPRoute"), &gwv1.TCPRoute{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.TCPRouteList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.TCPRoutes = l.Items
		return err
	}},
	{gwGVK("UDPRoute"), &gwv1.UDPRoute{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.UDPRouteList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.UDPRoutes = l.Items
		return err
	}},
	{schema.GroupVersion(gwv1b1.GroupVersion).WithKind("ReferenceGrant"), &gwv1b1.ReferenceGrant{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1b1.ReferenceGrantList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.ReferenceGrants = l.Items
		return err
	}},
	{gwGVK("BackendTLSPolicy"), &gwv1.BackendTLSPolicy{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwv1.BackendTLSPolicyList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.BackendTLSPolicies = l.Items
		return err
	}},
	{schema.GroupVersion(gwxv1a1.GroupVersion).WithKind("XBackendTrafficPolicy"), &gwxv1a1.XBackendTrafficPolicy{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwxv1a1.XBackendTrafficPolicyList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.XBackendTrafficPolicies = l.Items
		return err
	}},
	{schema.GroupVersion(gwxv1a1.GroupVersion).WithKind("XTelemetryPolicy"), &gwxv1a1.XTelemetryPolicy{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwxv1a1.XTelemetryPolicyList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.XTelemetryPolicies = l.Items
		return err
	}},
	{corev1.SchemeGroupVersion.WithKind("Namespace"), &corev1.Namespace{}, false, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l corev1.NamespaceList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Namespaces = l.Items
		return err
	}},
	{corev1.SchemeGroupVersion.WithKind("Service"), &corev1.Service{}, false, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l corev1.ServiceList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Services = l.Items
		return err
	}},
	{discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), &discoveryv1.EndpointSlice{}, false, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l discoveryv1.EndpointSliceList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.EndpointSlices = l.Items
		return err
	}},
	{corev1.SchemeGroupVersion.WithKind("Secret"), &corev1.Secret{}, false, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l corev1.SecretList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Secrets = l.Items
		return err
	}},
	{corev1.SchemeGroupVersion.WithKind("ConfigMap"), &corev1.ConfigMap{}, false, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l corev1.ConfigMapList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.ConfigMaps = l.Items
		return err
	}},
	// ClusterTrustBundles are optional: certificates.k8s.io/v1 is served from Kubernetes 1.37.
	{certv1.SchemeGroupVersion.WithKind("ClusterTrustBundle"), &certv1.ClusterTrustBundle{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l certv1.ClusterTrustBundleList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.ClusterTrustBundles = l.Items
		return err
	}},
	// ServiceImports (Multi-Cluster Services API) are optional: backendRefs may name them
	// when an MCS implementation has installed their CRD.
	{mcsv1a1.SchemeGroupVersion.WithKind("ServiceImport"), &mcsv1a1.ServiceImport{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l mcsv1a1.ServiceImportList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.ServiceImports = l.Items
		return err
	}},
	// XBackends are optional (experimental channel): backendRefs may name them when their CRD
	// is installed.
	{schema.GroupVersion(gwxv1a1.GroupVersion).WithKind("XBackend"), &gwxv1a1.XBackend{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l gwxv1a1.XBackendList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.XBackends = l.Items
		return err
	}},
	{agwv1a1.SchemeGroupVersion.WithKind("AgentgatewayPolicy"), &agwv1a1.AgentgatewayPolicy{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l agwv1a1.AgentgatewayPolicyList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Policies = l.Items
		return err
	}},
	{agwv1a1.SchemeGroupVersion.WithKind("AgentgatewayBackend"), &agwv1a1.AgentgatewayBackend{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l agwv1a1.AgentgatewayBackendList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Backends = l.Items
		return err
	}},
	{agwv1a1.SchemeGroupVersion.WithKind("AgentgatewayParameters"), &agwv1a1.AgentgatewayParameters{}, true, func(ctx context.Context, r client.Reader, s *translate.Snapshot) error {
		var l agwv1a1.AgentgatewayParametersList
		err := r.List(ctx, &l, client.UnsafeDisableDeepCopy)
		s.Parameters = l.Items
		return err
	}},
}

// owned are the workload kinds the deployer writes; they are watched (labelled ones only,
// see CacheOptions) so a deleted or edited workload is put back.
var owned = []client.Object{&appsv1.Deployment{}, &corev1.ServiceAccount{}}

// ownedSpecOnly are owned kinds whose status nothing here reads and which changes often
// (an autoscaler's with load, a budget's with pod readiness): only edits and deletions of
// them start a reconcile.
var ownedSpecOnly = []client.Object{&policyv1.PodDisruptionBudget{}, &autoscalingv2.HorizontalPodAutoscaler{}}

// statusWrittenByUs says whether objects of group carry status that this operator writes
// (Gateway API kinds, experimental ones included, and our CRDs) rather than status it reads
// (a Service's load balancer addresses).
func statusWrittenByUs(group string) bool {
	return group == gwv1.GroupName || group == "gateway.networking.x-k8s.io" || group == agwv1a1.GroupName
}

// specChanged passes every event except updates that leave what translation reads
// unchanged: same generation (spec), labels, annotations and deletion mark. It is applied to
// the kinds whose status we write, so that our own status writes (one per route on a large
// change) do not each cause another full reconcile. Translation never reads their status,
// and the status loop retries its own conflicts, so nothing is lost; the price is that
// someone else's edit of our status entries is corrected only on the next real change.
var specChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	if o == nil || n == nil {
		return true
	}
	return o.GetGeneration() != n.GetGeneration() ||
		!maps.Equal(o.GetLabels(), n.GetLabels()) ||
		!maps.Equal(o.GetAnnotations(), n.GetAnnotations()) ||
		!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
}}
