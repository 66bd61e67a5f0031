package translate

import (
	"sort"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// nsName is a namespaced object name.
type nsName struct{ ns, name string }

func (n nsName) String() string { return n.ns + "/" + n.name }

func keyOf(m *metav1.ObjectMeta) nsName { return nsName{m.Namespace, m.Name} }

// index holds the lookups every step needs, built once per Translate in O(n log n). Maps
// point into the Snapshot; nothing here is mutated.
type index struct {
	namespaces  map[string]*corev1.Namespace
	services    map[nsName]*corev1.Service
	slices      map[nsName][]*discoveryv1.EndpointSlice // by namespace/service-name label, sorted by name
	secrets     map[nsName]*corev1.Secret
	configMaps  map[nsName]*corev1.ConfigMap
	trustBundle map[string]*certv1.ClusterTrustBundle // cluster-scoped, by name
	backends    map[nsName]*agwv1a1.AgentgatewayBackend
	parameters  map[nsName]*agwv1a1.AgentgatewayParameters
	grantsByNs  map[string][]*gwv1b1.ReferenceGrant // by the grant's namespace (the "to" side)
	policiesByN map[nsName]*agwv1a1.AgentgatewayPolicy
	imports     map[nsName]*mcsv1a1.ServiceImport
	xbackends   map[nsName]*gwxv1a1.XBackend
	pods        map[string][]*corev1.Pod // by namespace
	// importSlices are the EndpointSlices by namespace/multicluster.kubernetes.io/service-name
	// label (a ServiceImport's endpoints), sorted by name.
	importSlices map[nsName][]*discoveryv1.EndpointSlice
}

func buildIndex(s *Snapshot) *index {
	ix := &index{
		namespaces:  map[string]*corev1.Namespace{},
		services:    map[nsName]*corev1.Service{},
		slices:      map[nsName][]*discoveryv1.EndpointSlice{},
		secrets:     map[nsName]*corev1.Secret{},
		configMaps:  map[nsName]*corev1.ConfigMap{},
		trustBundle: map[string]*certv1.ClusterTrustBundle{},
		backends:    map[nsName]*agwv1a1.AgentgatewayBackend{},
		parameters:  map[nsName]*agwv1a1.AgentgatewayParameters{},
		grantsByNs:  map[string][]*gwv1b1.ReferenceGrant{},
		policiesByN: map[nsName]*agwv1a1.AgentgatewayPolicy{},
		imports:     map[nsName]*mcsv1a1.ServiceImport{},
		xbackends:   map[nsName]*gwxv1a1.XBackend{},
		pods:        map[string][]*corev1.Pod{},

		importSlices: map[nsName][]*discoveryv1.EndpointSlice{},
	}
	for i := range s.Namespaces {
		ix.namespaces[s.Namespaces[i].Name] = &s.Namespaces[i]
	}
	for i := range s.Services {
		ix.services[keyOf(&s.Services[i].ObjectMeta)] = &s.Services[i]
	}
	for i := range s.EndpointSlices {
		es := &s.EndpointSlices[i]
		if imp := es.Labels[mcsv1a1.LabelServiceName]; imp != "" {
			k := nsName{es.Namespace, imp}
			ix.importSlices[k] = append(ix.importSlices[k], es)
		}
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		k := nsName{es.Namespace, svc}
		ix.slices[k] = append(ix.slices[k], es)
	}
	for _, m := range []map[nsName][]*discoveryv1.EndpointSlice{ix.slices, ix.importSlices} {
		for _, l := range m {
			sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
		}
	}
	for i := range s.XBackends {
		ix.xbackends[keyOf(&s.XBackends[i].ObjectMeta)] = &s.XBackends[i]
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		ix.pods[p.Namespace] = append(ix.pods[p.Namespace], p)
	}
	for i := range s.ServiceImports {
		ix.imports[keyOf(&s.ServiceImports[i].ObjectMeta)] = &s.ServiceImports[i]
	}
	for i := range s.Secrets {
		ix.secrets[keyOf(&s.Secrets[i].ObjectMeta)] = &s.Secrets[i]
	}
	for i := range s.ConfigMaps {
		ix.configMaps[keyOf(&s.ConfigMaps[i].ObjectMeta)] = &s.ConfigMaps[i]
	}
	for i := range s.ClusterTrustBundles {
		ix.trustBundle[s.ClusterTrustBundles[i].Name] = &s.ClusterTrustBundles[i]
	}
	for i := range s.Backends {
		ix.backends[keyOf(&s.Backends[i].ObjectMeta)] = &s.Backends[i]
	}
	for i := range s.Parameters {
		ix.parameters[keyOf(&s.Parameters[i].ObjectMeta)] = &s.Parameters[i]
	}
	for i := range s.ReferenceGrants {
		g := &s.ReferenceGrants[i]
		ix.grantsByNs[g.Namespace] = append(ix.grantsByNs[g.Namespace], g)
	}
	for i := range s.Policies {
		ix.policiesByN[keyOf(&s.Policies[i].ObjectMeta)] = &s.Policies[i]
	}
	return ix
}

// namespaceLabels returns the labels of a namespace, or nil when it is not in the Snapshot
// (a Selector then matches only an empty selector).
func (ix *index) namespaceLabels(ns string) map[string]string {
	if n := ix.namespaces[ns]; n != nil {
		return n.Labels
	}
	return nil
}

// olderFirst orders objects by creation time, then namespace/name: the tie-break the Gateway
// API uses everywhere (routes, ListenerSets, policies).
func olderFirst(a, b *metav1.ObjectMeta) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
