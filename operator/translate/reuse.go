package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
func TranslateReusing(s *Snapshot, prev *Result) *Result {
	return translate(s, prev, true)
}

// routeKinds are the Snapshot fields that hold routes; inputsEpoch covers every other one.
var routeFields = map[string]bool{"HTTPRoutes": true, "GRPCRoutes": true, "TLSRoutes": true, "TCPRoutes": true, "UDPRoutes": true}

// specFields are the Snapshot fields of custom resources (Gateway API and ours). For them
// the API server raises metadata.generation on every change that is not to metadata or
// status, and translation reads nothing of their status; so such an object is identified
// by its generation and labels, not its resourceVersion, and a status write (a Gateway's
// attachedRoutes after every added route, a policy's ancestors) does not make every
// route's piece be encoded again.
var specFields = map[string]bool{
	"GatewayClasses": true, "Gateways": true, "ListenerSets": true, "ReferenceGrants": true,
	"BackendTLSPolicies": true, "XBackendTrafficPolicies": true,
	"Policies": true, "Backends": true, "Parameters": true,
}

// inputsEpoch fingerprints every input of s that is not a route: the controller name and
// the kind, namespace, name, UID and resourceVersion of every object (for custom resources
// with a generation, the generation, labels and annotations instead: specFields), whatever
// their order in s (a cache lists them in no particular order). It is "" when an object has
// no resourceVersion or s has a field it does not know how to read.
func inputsEpoch(s *Snapshot) string {
	h := sha256.New()
	v := reflect.ValueOf(s).Elem()
	ty := v.Type()
	var ids []string
	for i := range ty.NumField() {
		f := ty.Field(i)
		if routeFields[f.Name] {
			continue
		}
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.String:
			h.Write([]byte(f.Name + "=" + fv.String() + "\n"))
		case reflect.Slice:
			ids = ids[:0]
			for j := range fv.Len() {
				obj, ok := fv.Index(j).Addr().Interface().(metav1.Object)
				if !ok || obj.GetResourceVersion() == "" {
					return ""
				}
				id := obj.GetNamespace() + "|" + obj.GetName() + "|" + string(obj.GetUID()) + "|"
				if g := obj.GetGeneration(); g > 0 && specFields[f.Name] {
					id += "g" + strconv.FormatInt(g, 10) + "|" + sortedPairs(obj.GetLabels()) + "|" + sortedPairs(obj.GetAnnotations())
				} else {
					id += obj.GetResourceVersion()
				}
				ids = append(ids, id)
			}
			slices.Sort(ids)
			h.Write([]byte(f.Name + "\n"))
			for _, id := range ids {
				h.Write([]byte(id + "\n"))
			}
		default:
			return ""
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

// previousPieces returns the pieces prev encoded for each Gateway.
func previousPieces(prev *Result) map[nsName]*configdelta.Encoded {
	if prev == nil {
		return nil
	}
	out := make(map[nsName]*configdelta.Encoded, len(prev.Gateways))
	for i := range prev.Gateways {
		g := &prev.Gateways[i]
		if g.Encoded != nil {
			out[nsName{g.Namespace, g.Name}] = g.Encoded
		}
	}
	return out
}
