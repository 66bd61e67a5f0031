package translate

// sniOwners settles which TLSRoutes of a listener serve each SNI name when their hostnames
// narrow to the same name on the listener (GatewayRouteHostnameIntersectionPrecedence): the
// route whose own hostname is the most specific keeps the name, so on listener
// abc.example.com a route for abc.example.com wins over an older one for *.example.com.
// Routes equally specific all keep it and the proxy gives it to the oldest (the order of
// l.routes). The result maps an attachment to the names it keeps, only for attachments that
// lose some; an empty list means the route serves nothing on this listener.
func sniOwners(routes []*attachment) map[*attachment][]string {
	type claim struct {
		a    *attachment
		name string
		rank hostKey
	}
	var claims []claim
	best := map[string]hostKey{}
	for _, a := range routes {
		if a.route.key.Kind != "TLSRoute" || len(a.hostnames) == 0 {
			continue
		}
		for _, x := range a.hostnames {
			r := origRank(a.listener.hostname, x, a.route.hostnames)
			claims = append(claims, claim{a, x, r})
			if b, ok := best[x]; !ok || r.moreSpecific(b) {
				best[x] = r
			}
		}
	}
	var out map[*attachment][]string
	losers := map[*attachment]bool{}
	for _, c := range claims {
		if best[c.name] != c.rank {
			losers[c.a] = true
		}
	}
	if len(losers) == 0 {
		return nil
	}
	out = make(map[*attachment][]string, len(losers))
	for _, c := range claims {
		if losers[c.a] {
			if _, ok := out[c.a]; !ok {
				out[c.a] = []string{}
			}
			if best[c.name] == c.rank {
				out[c.a] = append(out[c.a], c.name)
			}
		}
	}
	return out
}

// origRank is the rank of the most specific of a route's own hostnames that narrows to x on
// a listener with hostname listener; a route without hostnames has the zero rank.
func origRank(listener, x string, route []string) hostKey {
	var best hostKey
	for _, h := range route {
		if m, ok := hostnameMatch(listener, h); ok && m == x {
			if k := keyOfHosts([]string{h}); k.moreSpecific(best) {
				best = k
			}
		}
	}
	return best
}

// moreSpecific says whether k ranks before o: exact before wildcard, then longer.
func (k hostKey) moreSpecific(o hostKey) bool {
	return k.exact > o.exact || k.exact == o.exact && k.length > o.length
}
