package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"

	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// TranslateReusing is Translate for a snapshot that follows the one prev was translated
// from: a Gateway's config reuses the encoded pieces of the routes prev encoded
// (configdelta.EncodeReusing) when they were built from the same inputs, so a change to
// one route does not encode every route again; the proxy checks' verdicts, built
// HTTPRoutes and assembled routes are reused the same way (see doc.go). The result equals Translate(s)'s, config
// versions and pushes alike; prev may be nil (the first translation, which only records
// the fingerprints).
//
// A route's piece is a function of the route object, the listener it is on, and inputs
// that are not routes (Gateways, Services, policies, Secrets, ...); routes affect each
// other's attachment and status, never each other's config. So a piece is fingerprinted
// by the route's identity and resourceVersion and by a fingerprint of every input that is
// not a route (inputsEpoch). Objects without a resourceVersion (not read from an API
// server) turn reuse off.
func TranslateReusing(s *Snapshot, prev *Result) *Result { //nolint:revive // the pair Translate/TranslateReusing reads better than Reusing
	return translate(s, previousOf(prev))
}

// previous is what a translation takes from the one before it (TranslateReusing); a nil
// *previous (Translate) turns fingerprinting and reuse off. Its maps are empty when there
// was no previous translation.
type previous struct {
	// pieces are the encoded configs of the previous translation, by Gateway.
	pieces map[nsName]*configdelta.Encoded
	// checked are its checkBuiltRoute results by fingerprint.
	checked map[configdelta.Fingerprint]string
	// assembled are its assembled HTTP routes (assembleListener).
	assembled map[assembledKey]*assembledRoute
	// built are its built HTTPRoutes (buildRoutes).
	built map[types.UID]*builtHTTPRoute
}

// routeFields are the Snapshot fields that hold routes: inputsEpoch leaves them out, since
// a route's own resourceVersion is part of its fingerprint (routeFingerprint).
var routeFields = []string{"HTTPRoutes", "GRPCRoutes", "TLSRoutes", "TCPRoutes", "UDPRoutes"}

// inputField is a Snapshot field of objects that inputsEpoch covers. spec marks custom
// resources (Gateway API and ours): for them the API server raises metadata.generation on
// every change that is not to metadata or status, and translation reads nothing of their
// status; so such an object is identified by its generation, labels and annotations, not
// its resourceVersion, and a status write (a Gateway's attachedRoutes after every added
// route, a policy's ancestors) does not make every route's piece be encoded again.
type inputField struct {
	name string
	spec bool
	// ids appends the identity of each of the field's objects to ids; false when an object
	// has no resourceVersion.
	ids func(s *Snapshot, spec bool, ids []string) ([]string, bool)
}

// inputFields lists, in Snapshot order, every field that is neither ControllerName nor in
// routeFields. TestInputFieldsCoverSnapshot fails when Snapshot gains a field that is in
// neither list, so a new input cannot be left out of the fingerprint.
var inputFields = []inputField{
	{"GatewayClasses", true, objectIDs(func(s *Snapshot) []gwv1.GatewayClass { return s.GatewayClasses })},
	{"Gateways", true, objectIDs(func(s *Snapshot) []gwv1.Gateway { return s.Gateways })},
	{"ListenerSets", true, objectIDs(func(s *Snapshot) []gwv1.ListenerSet { return s.ListenerSets })},
	{"ReferenceGrants", true, objectIDs(func(s *Snapshot) []gwv1b1.ReferenceGrant { return s.ReferenceGrants })},
	{"BackendTLSPolicies", true, objectIDs(func(s *Snapshot) []gwv1.BackendTLSPolicy { return s.BackendTLSPolicies })},
	{"XBackendTrafficPolicies", true, objectIDs(func(s *Snapshot) []gwxv1a1.XBackendTrafficPolicy { return s.XBackendTrafficPolicies })},
	{"XTelemetryPolicies", true, objectIDs(func(s *Snapshot) []gwxv1a1.XTelemetryPolicy { return s.XTelemetryPolicies })},
	{"Namespaces", false, objectIDs(func(s *Snapshot) []corev1.Namespace { return s.Namespaces })},
	{"Services", false, objectIDs(func(s *Snapshot) []corev1.Service { return s.Services })},
	{"EndpointSlices", false, objectIDs(func(s *Snapshot) []discoveryv1.EndpointSlice { return s.EndpointSlices })},
	{"Secrets", false, objectIDs(func(s *Snapshot) []corev1.Secret { return s.Secrets })},
	{"ConfigMaps", false, objectIDs(func(s *Snapshot) []corev1.ConfigMap { return s.ConfigMaps })},
	{"Policies", true, objectIDs(func(s *Snapshot) []agwv1a1.AgentgatewayPolicy { return s.Policies })},
	{"Backends", true, objectIDs(func(s *Snapshot) []agwv1a1.AgentgatewayBackend { return s.Backends })},
	{"Parameters", true, objectIDs(func(s *Snapshot) []agwv1a1.AgentgatewayParameters { return s.Parameters })},
	{"ClusterTrustBundles", false, objectIDs(func(s *Snapshot) []certv1.ClusterTrustBundle { return s.ClusterTrustBundles })},
	{"ServiceImports", true, objectIDs(func(s *Snapshot) []mcsv1a1.ServiceImport { return s.ServiceImports })},
	{"XBackends", true, objectIDs(func(s *Snapshot) []gwxv1a1.XBackend { return s.XBackends })},
	{"Pods", false, objectIDs(func(s *Snapshot) []corev1.Pod { return s.Pods })},
}

// objectIDs reads one field of objects for inputsEpoch: namespace, name, UID and either the
// resourceVersion or, for spec fields with a generation, the generation, labels and
// annotations.
func objectIDs[T any, P interface {
	*T
	metav1.Object
}](field func(*Snapshot) []T) func(*Snapshot, bool, []string) ([]string, bool) {
	return func(s *Snapshot, spec bool, ids []string) ([]string, bool) {
		list := field(s)
		for i := range list {
			obj := P(&list[i])
			if obj.GetResourceVersion() == "" {
				return ids, false
			}
			id := obj.GetNamespace() + "|" + obj.GetName() + "|" + string(obj.GetUID()) + "|"
			if g := obj.GetGeneration(); g > 0 && spec {
				id += "g" + strconv.FormatInt(g, 10) + "|" + sortedPairs(obj.GetLabels()) + "|" + sortedPairs(obj.GetAnnotations())
			} else {
				id += obj.GetResourceVersion()
			}
			ids = append(ids, id)
		}
		return ids, true
	}
}

// inputsEpoch fingerprints every input of s that is not a route: the controller name, the
// session secret and
// the identity of every object of inputFields, whatever their order in s (a cache lists
// them in no particular order). It is "" when an object has no resourceVersion.
func inputsEpoch(s *Snapshot) string {
	h := sha256.New()
	h.Write([]byte("ControllerName=" + s.ControllerName + "\n"))
	secret := sha256.Sum256(s.SessionSecret)
	h.Write(secret[:])
	var ids []string
	for _, f := range inputFields {
		var ok bool
		if ids, ok = f.ids(s, f.spec, ids[:0]); !ok {
			return ""
		}
		slices.Sort(ids)
		h.Write([]byte(f.name + "\n"))
		for _, id := range ids {
			h.Write([]byte(id + "\n"))
		}
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// sortedPairs writes m as quoted key=value pairs in key order.
func sortedPairs(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
		b.WriteByte(',')
	}
	return b.String()
}

// routeFingerprint is what a route's config piece is built from, zero when unknown: the
// inputs that are not routes, and the route object (its UID, unique to the object, and its
// resourceVersion).
func (t *translator) routeFingerprint(r *routeIR) configdelta.Fingerprint {
	if t.epoch == "" || r.meta.ResourceVersion == "" || r.meta.UID == "" {
		return configdelta.Fingerprint{}
	}
	return configdelta.Fingerprint{Inputs: t.epoch, Object: string(r.meta.UID), Version: r.meta.ResourceVersion}
}

// previousOf is what prev leaves to reuse; never nil, so that a first translation (prev
// nil) still records fingerprints for the next.
func previousOf(prev *Result) *previous {
	if prev == nil {
		return &previous{}
	}
	pieces := make(map[nsName]*configdelta.Encoded, len(prev.Gateways))
	for i := range prev.Gateways {
		g := &prev.Gateways[i]
		if g.Encoded != nil {
			pieces[nsName{g.Namespace, g.Name}] = g.Encoded
		}
	}
	return &previous{pieces: pieces, checked: prev.checked, assembled: prev.assembled, built: prev.built}
}
