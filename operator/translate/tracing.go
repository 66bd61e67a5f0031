package translate

import (
	"fmt"
	"sort"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwxv1a1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// frontendTracing maps frontend.tracing onto an HTTP or HTTPS listener. Its collector is
// resolved like any backendRef of the policy (GRPC: HTTP/2; HTTP: HTTP/1.1); a collector
// that does not resolve leaves the listener untraced and is reported in ResolvedRefs. The
// CEL fields were type-checked by the policy's validation.
func (t *translator) frontendTracing(l *listenerIR, p *agwv1a1.AgentgatewayPolicy, st *polStatus, path string, v *agwv1a1.Tracing) *config.Tracing {
	if l.protocol != gwv1.HTTPProtocolType && l.protocol != gwv1.HTTPSProtocolType {
		st.note(path, "not applied to TCP, TLS and UDP listeners: they carry no HTTP requests")
		return nil
	}
	proto, mode := config.TracingGRPC, modeGRPC
	if deref(v.Protocol, agwv1a1.TracingProtocolGRPC) == agwv1a1.TracingProtocolHTTP {
		proto, mode = config.TracingHTTP, modeHTTP
	}
	name, err := t.resolveBackendFrom(agwv1a1.GroupName, "AgentgatewayPolicy", p.Namespace, v.Provider.BackendRef, mode)
	if err != nil {
		st.refErrors = append(st.refErrors, "frontend.tracing.provider: "+err.msg+"; the listener is not traced")
		return nil
	}
	out := &config.Tracing{Backend: name, Protocol: proto, Path: deref(v.Path, ""), ServiceName: deref(v.ServiceName, ""),
		SamplingRate: fraction(v.SamplingRate), ParentBased: v.ParentBased, ParentSamplingRate: fraction(v.ParentSamplingRate),
		Condition: string(deref(v.Condition, ""))}
	for _, a := range v.Attributes {
		out.Attributes = append(out.Attributes, config.TracingAttribute{Name: a.Name, Value: deref(a.Value, ""),
			Header: string(deref(a.Header, "")), Expression: string(deref(a.Expression, ""))})
	}
	return out
}

// fraction is a Gateway API Fraction as a ratio (denominator 100 when unset), or nil.
func fraction(f *gwv1.Fraction) *float64 {
	if f == nil {
		return nil
	}
	d := deref(f.Denominator, 100)
	r := 0.0
	if d > 0 {
		r = min(float64(f.Numerator)/float64(d), 1)
	}
	return &r
}

// telemetryIR is one XTelemetryPolicy and what it did at each Gateway it targets.
type telemetryIR struct {
	p       *gwxv1a1.XTelemetryPolicy
	tracing *config.Tracing // nil: mode is not Enabled, or the provider did not resolve
	// refErr is why the provider did not resolve: reason and message of ResolvedRefs.
	refReason, refErr string
	refused           []string // fields agentgateway cannot honour
	headers           []config.TracingHeader
	gateways          map[nsName]*telemetryAt
}

// telemetryAt is the policy's outcome at one Gateway.
type telemetryAt struct {
	conflict   string   // an older policy targets the Gateway
	overridden []string // listeners where an AgentgatewayPolicy frontend.tracing wins
	applied    int      // HTTP and HTTPS listeners it traces
}

// resolveTelemetryPolicies maps the XTelemetryPolicies that target our Gateways. Only one
// applies per Gateway: the oldest (then first by namespace/name); the others are
// Conflicted there. Tracing with mode Enabled becomes the tracing of every HTTP and HTTPS
// listener of the Gateway, unless an AgentgatewayPolicy frontend.tracing reaches the
// listener (ours is more specific and wins). The provider is resolved before
// BackendTLSPolicies apply, so a BackendTLSPolicy on the collector's Service secures the
// export.
func (t *translator) resolveTelemetryPolicies() {
	var all []*telemetryIR
	for i := range t.s.XTelemetryPolicies {
		p := &t.s.XTelemetryPolicies[i]
		all = append(all, &telemetryIR{p: p, gateways: map[nsName]*telemetryAt{}})
	}
	sort.Slice(all, func(i, j int) bool { return olderFirst(&all[i].p.ObjectMeta, &all[j].p.ObjectMeta) })
	winner := map[nsName]*telemetryIR{}
	for _, x := range all {
		targets := false
		for _, ref := range x.p.Spec.TargetRefs {
			if ref.Group != gwv1.GroupName || ref.Kind != "Gateway" {
				continue
			}
			k := nsName{x.p.Namespace, string(ref.Name)}
			g := t.gatewayByKey(k)
			if g == nil {
				continue
			}
			targets = true
			at := &telemetryAt{}
			x.gateways[k] = at
			if w := winner[k]; w != nil {
				at.conflict = fmt.Sprintf("XTelemetryPolicy %s/%s is older (or first by name) and targets the same Gateway", w.p.Namespace, w.p.Name)
				continue
			}
			winner[k] = x
		}
		if targets {
			t.mapTelemetry(x)
			t.telemetry = append(t.telemetry, x)
		}
	}
	t.telemetryWinner = winner
}

func (t *translator) gatewayByKey(k nsName) *gatewayIR {
	for _, g := range t.gateways {
		if g.key == k {
			return g
		}
	}
	return nil
}

// otlpHTTPPort is the IANA port of OTLP/HTTP.
const otlpHTTPPort = 4318

// mapTelemetry turns the policy's tracing into a listener config, or records why not.
func (t *translator) mapTelemetry(x *telemetryIR) {
	tr := &x.p.Spec.Tracing
	if tr.Mode != gwxv1a1.TracingModeEnabled {
		return // Disabled and ImplementationDefault: agentgateway does not trace by default
	}
	for _, h := range tr.Provider.Headers {
		x.headers = append(x.headers, config.TracingHeader{Name: string(h.Name), Value: h.Value})
	}
	// The policy has no protocol field: OTLP's registered HTTP port (4318) means OTLP/HTTP,
	// any other port OTLP/gRPC.
	proto, mode := config.TracingGRPC, modeGRPC
	if p := tr.Provider.BackendRef.Port; p != nil && *p == otlpHTTPPort {
		proto, mode = config.TracingHTTP, modeHTTP
	}
	name, err := t.resolveBackendFrom(gwxv1a1.GroupName, "XTelemetryPolicy", x.p.Namespace, tr.Provider.BackendRef, mode)
	if err != nil {
		x.refReason, x.refErr = telemetryRefReason(err), err.msg
		return
	}
	out := &config.Tracing{Backend: name, Protocol: proto, ServiceName: tr.ServiceName, SpanName: tr.SpanName,
		SamplingRate: fraction(tr.SamplingRate), Headers: x.headers}
	switch tr.ParentBasedSampling.Mode {
	case gwxv1a1.ParentBasedSamplingModeDisabled:
		f := false
		out.ParentBased = &f
	case gwxv1a1.ParentBasedSamplingModeEnabled:
		out.ParentSamplingRate = fraction(tr.ParentBasedSampling.SamplingRate)
	}
	for _, a := range tr.Attributes {
		ca := config.TracingAttribute{Name: string(a.Name)}
		switch a.SourceType {
		case gwxv1a1.AttributeSourceLiteral:
			ca.Value = a.LiteralValue
		case gwxv1a1.AttributeSourceHeader:
			ca.Header = string(a.HeaderName)
		case gwxv1a1.AttributeSourceAttribute:
			if !knownTracingAttribute(a.AttributeKey) {
				x.refused = append(x.refused, fmt.Sprintf("tracing.attributes[%s]: attributeKey %q is not one agentgateway records (%s)", a.Name, a.AttributeKey, strings.Join(config.TracingSpanAttributes, ", ")))
				continue
			}
			ca.Attribute = a.AttributeKey
		}
		out.Attributes = append(out.Attributes, ca)
	}
	if len(x.refused) > 0 {
		return
	}
	x.tracing = out
}

func knownTracingAttribute(k string) bool {
	for _, a := range config.TracingSpanAttributes {
		if a == k {
			return true
		}
	}
	return false
}

func telemetryRefReason(err *refError) string {
	switch err.reason {
	case string(gwv1.RouteReasonInvalidKind):
		return "InvalidKind"
	case string(gwv1.RouteReasonRefNotPermitted):
		return "RefNotPermitted"
	}
	return "BackendNotFound"
}

// listenerTelemetry is the tracing an XTelemetryPolicy gives a listener that has no
// frontend.tracing of its own, recording where it was overridden.
func (t *translator) listenerTelemetry(g *gatewayIR, l *listenerIR, own bool) *config.Tracing {
	x := t.telemetryWinner[g.key]
	if x == nil || x.tracing == nil || (l.protocol != gwv1.HTTPProtocolType && l.protocol != gwv1.HTTPSProtocolType) {
		return nil
	}
	at := x.gateways[g.key]
	if own {
		at.overridden = append(at.overridden, string(l.name))
		return nil
	}
	at.applied++
	c := *x.tracing
	return &c
}

// telemetryStatuses writes one ancestor per targeted Gateway of ours.
func (t *translator) telemetryStatuses() {
	for _, x := range t.telemetry {
		keys := make([]nsName, 0, len(x.gateways))
		for k := range x.gateways {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		var anc []gwv1.PolicyAncestorStatus
		for _, k := range keys {
			at := x.gateways[k]
			c := newConds(x.p.Generation)
			acc := string(gwv1.PolicyConditionAccepted)
			switch {
			case at.conflict != "":
				c.set(acc, false, string(gwv1.PolicyReasonConflicted), at.conflict)
			case len(x.refused) > 0:
				c.set(acc, false, string(gwv1.PolicyReasonInvalid), "agentgateway cannot honour "+strings.Join(x.refused, "; ")+"; the policy is not applied")
			case x.refErr != "":
				c.set(acc, false, string(gwv1.PolicyReasonInvalid), "tracing.provider.backendRef: "+x.refErr)
			case x.p.Spec.Tracing.Mode != gwxv1a1.TracingModeEnabled:
				c.set(acc, true, string(gwv1.PolicyReasonAccepted), "tracing is off (agentgateway does not trace by default)")
			case at.applied == 0 && len(at.overridden) > 0:
				c.set(acc, false, string(gwv1.PolicyReasonConflicted), "an AgentgatewayPolicy frontend.tracing sets the tracing of every HTTP listener of the Gateway ("+strings.Join(at.overridden, ", ")+")")
			case at.applied == 0:
				c.set(acc, false, string(gwv1.PolicyReasonInvalid), "the Gateway has no HTTP or HTTPS listener to trace")
			default:
				msg := ""
				if len(at.overridden) > 0 {
					msg = "listeners " + strings.Join(at.overridden, ", ") + " follow their AgentgatewayPolicy frontend.tracing instead"
				}
				c.set(acc, true, string(gwv1.PolicyReasonAccepted), msg)
			}
			if x.p.Spec.Tracing.Mode == gwxv1a1.TracingModeEnabled {
				if x.refErr != "" {
					c.set(string(gwxv1a1.TelemetryPolicyConditionResolvedRefs), false, x.refReason, x.refErr)
				} else {
					c.set(string(gwxv1a1.TelemetryPolicyConditionResolvedRefs), true, string(gwxv1a1.TelemetryPolicyReasonResolvedRefs), "")
				}
			}
			anc = append(anc, gwv1.PolicyAncestorStatus{AncestorRef: gatewayParentRef(k), ControllerName: gwv1.GatewayController(t.s.ControllerName), Conditions: c.list()})
		}
		t.res.Policies = append(t.res.Policies, PolicyResult{
			Key:        ObjectKey{Group: gwxv1a1.GroupName, Kind: "XTelemetryPolicy", Namespace: x.p.Namespace, Name: x.p.Name},
			Generation: x.p.Generation, Ancestors: anc,
		})
	}
}
