package translate

import (
	"fmt"
	"sort"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// btlsIR is one BackendTLSPolicy and what it applied to.
type btlsIR struct {
	p        *gwv1.BackendTLSPolicy
	tls      *config.BackendTLS
	invalid  *refError // bad CA refs: the backends it targets fail closed
	conflict string    // an older policy targets the same Service port
	applied  []*backendIR
	lost     []*backendIR // backends an older, equally specific policy won
	shadowed []*backendIR // backends a more specific (sectionName) policy won
}

// applyBackendTLSPolicies originates TLS to the Services (or Service ports) a
// BackendTLSPolicy targets. The oldest policy wins a Service port; an invalid policy makes
// its backends unusable rather than silently falling back to plaintext. Behind TLSRoutes
// the proxy originates it only where it terminated the client's TLS (a passed-through
// stream is the client's own TLS already).
func (t *translator) applyBackendTLSPolicies() {
	for i := range t.s.BackendTLSPolicies {
		p := &t.s.BackendTLSPolicies[i]
		b := &btlsIR{p: p}
		b.tls, b.invalid = t.backendTLSFromValidation(p.Namespace, &p.Spec.Validation)
		t.btls = append(t.btls, b)
	}
	sort.Slice(t.btls, func(i, j int) bool { return olderFirst(&t.btls[i].p.ObjectMeta, &t.btls[j].p.ObjectMeta) })
	for _, name := range sortedKeys(t.backends) {
		be := t.backends[name]
		if !btlsTargetable(be) || be.mode == modeUDP {
			continue
		}
		// The policy naming the port (sectionName) beats one naming the whole Service; among
		// equally specific ones the oldest wins (t.btls is oldest first) and the others are
		// Conflicted. A whole-Service policy beaten by a port policy is not in conflict.
		var winner *btlsIR
		winnerSpec := -1
		for _, b := range t.btls {
			spec := btlsSpecificity(b.p, be)
			if b.p.Namespace != be.target.Namespace || spec < 0 || spec <= winnerSpec {
				continue
			}
			winner, winnerSpec = b, spec
		}
		if winner == nil {
			continue
		}
		for _, b := range t.btls {
			if b == winner || b.p.Namespace != be.target.Namespace {
				continue
			}
			switch btlsSpecificity(b.p, be) {
			case winnerSpec:
				b.conflict = fmt.Sprintf("BackendTLSPolicy %s/%s is older (or first by name) and targets the same Service port", winner.p.Namespace, winner.p.Name)
				b.lost = append(b.lost, be)
			case 0:
				b.shadowed = append(b.shadowed, be)
			}
		}
		winner.applied = append(winner.applied, be)
		if winner.invalid != nil {
			be.invalid = "BackendTLSPolicy " + winner.p.Namespace + "/" + winner.p.Name + ": " + winner.invalid.msg
			continue
		}
		tlsCopy := *winner.tls
		be.cfg.TLS = &tlsCopy
		if be.cfg.Protocol == config.BackendH2C {
			be.cfg.Protocol = config.BackendH2
		}
	}
}

// btlsTargetable says whether a BackendTLSPolicy may target the backend: a Service's, or a
// multicluster.x-k8s.io ServiceImport's (whose port names work like a Service's).
func btlsTargetable(be *backendIR) bool {
	return (be.target.Group == "" && be.target.Kind == "Service") ||
		(be.target.Group == mcsv1a1.GroupName && be.target.Kind == serviceImportKind)
}

// btlsSpecificity is 1 when the policy targets the backend's Service (or ServiceImport)
// port by sectionName, 0 when it targets the whole Service, and -1 when it does not target
// the backend.
func btlsSpecificity(p *gwv1.BackendTLSPolicy, be *backendIR) int {
	best := -1
	for _, r := range p.Spec.TargetRefs {
		if string(r.Group) != be.target.Group || string(r.Kind) != be.target.Kind || string(r.Name) != be.target.Name {
			continue
		}
		switch {
		case r.SectionName == nil:
			best = max(best, 0)
		case string(*r.SectionName) == be.portName:
			best = 1
		}
	}
	return best
}

// backendTLSFromValidation is the TLS origination a BackendTLSPolicy or an XBackend's
// spec.tls.validation (in namespace ns, where its ConfigMaps are) asks for.
func (t *translator) backendTLSFromValidation(ns string, v *gwv1.BackendTLSPolicyValidation) (*config.BackendTLS, *refError) {
	out := &config.BackendTLS{SNI: string(v.Hostname)}
	for _, san := range v.SubjectAltNames {
		switch san.Type {
		case gwv1.HostnameSubjectAltNameType:
			out.SubjectAltNames = append(out.SubjectAltNames, string(san.Hostname))
		case gwv1.URISubjectAltNameType:
			out.SubjectAltNames = append(out.SubjectAltNames, string(san.URI))
		}
	}
	var bundle []string
	for _, ref := range v.CACertificateRefs {
		if isTrustBundleRef(string(ref.Group), string(ref.Kind)) {
			ca, err := t.trustBundleCAs(string(ref.Name))
			if err != nil {
				return nil, &refError{string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), err.Error()}
			}
			bundle = append(bundle, ca)
			continue
		}
		if ref.Group != "" || ref.Kind != "ConfigMap" {
			return nil, &refError{string(gwv1.BackendTLSPolicyReasonInvalidKind),
				fmt.Sprintf("caCertificateRef %s/%s %s: only core ConfigMaps and certificates.k8s.io ClusterTrustBundles are supported", ref.Group, ref.Kind, ref.Name)}
		}
		cm := t.ix.configMaps[nsName{ns, string(ref.Name)}]
		if cm == nil {
			return nil, &refError{string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), fmt.Sprintf("ConfigMap %s/%s not found", ns, ref.Name)}
		}
		ca := cm.Data["ca.crt"]
		if _, err := config.ParseCAs(ca); err != nil {
			return nil, &refError{string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef),
				fmt.Sprintf("ConfigMap %s/%s key ca.crt: %v", ns, ref.Name, err)}
		}
		bundle = append(bundle, strings.TrimSpace(ca))
	}
	if len(bundle) > 0 {
		out.CACertificates = strings.Join(bundle, "\n") + "\n"
	} else if v.WellKnownCACertificates == nil || *v.WellKnownCACertificates != gwv1.WellKnownCACertificatesSystem {
		return nil, &refError{string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), "set caCertificateRefs or wellKnownCACertificates: System"}
	}
	return out, nil
}

// backendTLSStatuses writes one ancestor per Gateway that uses a backend the policy applies
// to (the spec's ancestor for BackendTLSPolicy is the Gateway).
func (t *translator) backendTLSStatuses(usedBy map[string][]*gatewayIR) {
	for _, b := range t.btls {
		gws := map[nsName]*gatewayIR{}
		won := map[nsName]bool{}
		for _, be := range b.applied {
			for _, g := range usedBy[be.cfg.Name] {
				gws[g.key] = g
				won[g.key] = true
			}
		}
		for _, be := range b.lost {
			for _, g := range usedBy[be.cfg.Name] {
				gws[g.key] = g
			}
		}
		shadowedOnly := map[nsName]bool{}
		for _, be := range b.shadowed {
			for _, g := range usedBy[be.cfg.Name] {
				if _, ok := gws[g.key]; !ok || !won[g.key] {
					shadowedOnly[g.key] = true
				}
				gws[g.key] = g
				won[g.key] = true
			}
		}
		var anc []gwv1.PolicyAncestorStatus
		keys := make([]nsName, 0, len(gws))
		for k := range gws {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			c := newConds(b.p.Generation)
			switch {
			case !won[k]:
				c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonConflicted), b.conflict)
			case b.invalid != nil:
				c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.BackendTLSPolicyReasonNoValidCACertificate), b.invalid.msg)
				c.set(string(gwv1.BackendTLSPolicyConditionResolvedRefs), false, b.invalid.reason, b.invalid.msg)
			case shadowedOnly[k] && len(b.applied) == 0:
				c.set(string(gwv1.PolicyConditionAccepted), true, string(gwv1.PolicyReasonAccepted),
					"a BackendTLSPolicy naming the Service port (sectionName) takes precedence on the ports this Gateway uses")
				c.set(string(gwv1.BackendTLSPolicyConditionResolvedRefs), true, string(gwv1.BackendTLSPolicyReasonResolvedRefs), "")
			default:
				c.set(string(gwv1.PolicyConditionAccepted), true, string(gwv1.PolicyReasonAccepted), "")
				c.set(string(gwv1.BackendTLSPolicyConditionResolvedRefs), true, string(gwv1.BackendTLSPolicyReasonResolvedRefs), "")
			}
			anc = append(anc, gwv1.PolicyAncestorStatus{AncestorRef: gatewayParentRef(k), ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.list()})
		}
		if len(anc) == 0 {
			continue
		}
		t.res.Policies = append(t.res.Policies, PolicyResult{
			Key:        ObjectKey{Group: gwv1.GroupName, Kind: "BackendTLSPolicy", Namespace: b.p.Namespace, Name: b.p.Name},
			Generation: b.p.Generation, Ancestors: anc,
		})
	}
}

func gatewayParentRef(k nsName) gwv1.ParentReference {
	return gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind("Gateway")),
		Namespace: ptr(gwv1.Namespace(k.ns)), Name: gwv1.ObjectName(k.name)}
}
