package translate

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// listenerFilterClosed answers the requests of a listener whose ExternalAuth filter cannot
// be used, as externalAuthClosed does for a rule.
const listenerFilterClosed = "agentgateway: cannot enforce the listener's ExternalAuth filter; refusing the request"

// validateListenerFilters checks a listener's filters.requests (GEP-5224, Gateway and
// ListenerSet listeners alike) on their own. The proxy runs ExternalAuth filters in any
// order given (config.Listener.PreRouting, before the route lookup), so no list is refused
// with InvalidListenerFilterOrder. It has no pre-routing extension kinds: an ExtensionRef
// filter makes the listener Accepted=False (UnsupportedValue) rather than be skipped, since
// skipping a pre-routing filter would serve requests it was meant to stop.
func validateListenerFilters(l *listenerIR) {
	if l.filters == nil || len(l.filters.Requests) == 0 {
		return
	}
	reject := func(msg string) {
		l.conds.fail(condAccepted, string(gwv1.ListenerReasonUnsupportedValue), msg)
	}
	if l.protocol != gwv1.HTTPProtocolType && l.protocol != gwv1.HTTPSProtocolType {
		reject(fmt.Sprintf("filters are only valid on HTTP and HTTPS listeners, not %s", l.protocol))
		return
	}
	for i, f := range l.filters.Requests {
		switch {
		case f.Type == gwv1.ListenerFilterExternalAuth && f.ExternalAuth != nil:
		case f.Type == gwv1.ListenerFilterExternalAuth:
			reject(fmt.Sprintf("filters.requests[%d]: type ExternalAuth without externalAuth settings", i))
		case f.Type == gwv1.ListenerFilterExtensionRef:
			ref := "(no extensionRef)"
			if e := f.ExtensionRef; e != nil {
				ref = fmt.Sprintf("%s/%s %s", e.Group, e.Kind, e.Name)
			}
			reject(fmt.Sprintf("filters.requests[%d]: ExtensionRef %s is not supported: agentgateway has no pre-routing extension kinds; use ExternalAuth", i, ref))
		default:
			reject(fmt.Sprintf("filters.requests[%d]: filter type %q is not supported; use ExternalAuth", i, f.Type))
		}
	}
}

// resolveListenerFilters builds the pre-routing filters of every usable listener with
// filters: each ExternalAuth filter becomes a config.ExtAuth, in order, with the backendRef
// resolved as a route filter's is (a cross-namespace reference needs a ReferenceGrant from
// the Gateway, or from the ListenerSet for its listeners). A backendRef that cannot be
// resolved sets ResolvedRefs=False and the listener fails closed: it answers every request
// 500, instead of serving its routes unchecked or leaving its hostname to another listener.
// A value the proxy cannot use (a dot segment in http.path, an invalid header name) makes
// the listener Accepted=False.
func (t *translator) resolveListenerFilters() {
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			if l.filters == nil || len(l.filters.Requests) == 0 || !l.usable() {
				continue
			}
			fromKind := "Gateway"
			if l.set != nil {
				fromKind = "ListenerSet"
			}
			var out []config.ListenerFilter
			for i, f := range l.filters.Requests {
				ea, refErr, err := t.externalAuthConfig(fromKind, l.ownerNs, f.ExternalAuth)
				if err != nil {
					msg := fmt.Sprintf("filters.requests[%d]: ExternalAuth %v", i, err)
					l.conds.fail(condAccepted, string(gwv1.ListenerReasonUnsupportedValue), msg)
					l.conds.set(condProgrammed, false, string(gwv1.ListenerReasonInvalid), "the listener is not accepted")
					out = nil
					break
				}
				if refErr != nil {
					l.conds.fail(condResolvedRefs, refErr.reason,
						fmt.Sprintf("filters.requests[%d]: ExternalAuth backendRef: %s; the listener answers 500", i, refErr.msg))
					out = closedListenerFilters()
					break
				}
				out = append(out, config.ListenerFilter{ExtAuth: ea})
			}
			l.preRouting = out
		}
	}
}

// closedListenerFilters is the pre-routing of a listener that fails closed.
func closedListenerFilters() []config.ListenerFilter {
	return []config.ListenerFilter{{DirectResponse: &config.DirectResponse{StatusCode: 500, Body: listenerFilterClosed}}}
}

// checkListenerFilters fails closed the listeners whose ExternalAuth service became unusable
// once backend TLS is final, as checkExternalAuthFilters does for rules.
func (t *translator) checkListenerFilters() {
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			for _, f := range l.preRouting {
				if f.ExtAuth == nil {
					continue
				}
				if be := t.backends[f.ExtAuth.Backend]; be == nil || be.invalid != "" {
					l.preRouting = closedListenerFilters()
					break
				}
			}
		}
	}
}
