package config

// ListenerFilter is one pre-routing filter of a listener (the Gateway API
// listener filters, GEP-5224). A listener's filters run in the order
// listed, after the listener is chosen (by SNI and Host) and before the
// route is looked up, which happens once, after the last filter: request
// headers a filter adds or replaces (an ExtAuth service's allowed answer
// headers, say) are visible to the route's header matches and reach the
// backend. A filter never changes which listener serves the request:
// a change to Host (or :authority) is dropped, the request keeps the Host
// it arrived with, and routing uses that Host. Exactly one field is set.
type ListenerFilter struct {
	// ExtAuth asks an authorization service, as a rule's
	// TrafficPolicy.ExtAuth does; a denial is answered before routing.
	ExtAuth *ExtAuth `json:"extAuth,omitempty"`
	// DirectResponse answers every request of the listener with this
	// response (a filter that cannot be enforced fails closed with it).
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`
}

// maxPreRouting bounds a listener's pre-routing filters (the Gateway API
// allows 16).
const maxPreRouting = 16

func (v *validator) preRouting(b *Bind, l *Listener) {
	if len(l.PreRouting) == 0 {
		return
	}
	if b.Protocol != ProtocolHTTP && b.Protocol != ProtocolHTTPS {
		v.addf(".preRouting", "only HTTP and HTTPS listeners have pre-routing filters")
		return
	}
	if len(l.PreRouting) > maxPreRouting {
		v.addf(".preRouting", "at most %d filters, got %d", maxPreRouting, len(l.PreRouting))
	}
	for i := range l.PreRouting {
		f := &l.PreRouting[i]
		n := v.in(".preRouting", i)
		switch {
		case f.ExtAuth != nil && f.DirectResponse != nil:
			v.addf("", "set exactly one of extAuth and directResponse")
		case f.ExtAuth != nil:
			en := v.in(".extAuth", -1)
			v.extAuth(f.ExtAuth)
			v.out(en)
		case f.DirectResponse != nil:
			if c := f.DirectResponse.StatusCode; c < 200 || c > 599 {
				v.addf(".directResponse.statusCode", "must be 200-599, got %d", c)
			}
		default:
			v.addf("", "set one of extAuth and directResponse")
		}
		v.out(n)
	}
}
