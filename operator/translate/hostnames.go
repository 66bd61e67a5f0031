package translate

import (
	"slices"
	"strings"
)

// hostnameMatch intersects a listener hostname with one route hostname, as the Gateway API
// defines it: "" matches everything; "*.example.com" matches any name with at least one more
// label in front of example.com (not example.com itself). It returns the narrower of the two
// (the hostnames the route actually serves on that listener) and whether they intersect.
func hostnameMatch(listener, route string) (string, bool) {
	switch {
	case listener == "":
		return route, true
	case route == "":
		return listener, true
	case listener == route:
		return route, true
	}
	lw, rw := strings.HasPrefix(listener, "*."), strings.HasPrefix(route, "*.")
	switch {
	case lw && rw:
		ls, rs := listener[1:], route[1:] // ".example.com"
		if strings.HasSuffix(rs, ls) {
			return route, true
		}
		if strings.HasSuffix(ls, rs) {
			return listener, true
		}
		return "", false
	case lw:
		if strings.HasSuffix(route, listener[1:]) && len(route) > len(listener)-1 {
			return route, true
		}
		return "", false
	case rw:
		if strings.HasSuffix(listener, route[1:]) && len(listener) > len(route)-1 {
			return listener, true
		}
		return "", false
	}
	return "", false
}

// intersectHostnames returns the hostnames a route serves on a listener and whether there is
// any. A route without hostnames serves whatever the listener accepts (result nil, true).
func intersectHostnames(listener string, route []string) ([]string, bool) {
	if len(route) == 0 {
		if listener == "" {
			return nil, true
		}
		return []string{listener}, true
	}
	if listener == "" && !hasDuplicates(route) {
		// Every route hostname matches as it is: no need for a copy per attachment.
		return route[:len(route):len(route)], true
	}
	var out []string
	for _, h := range route {
		// A route has a few hostnames (16 at most): a linear search for duplicates is
		// cheaper than a map.
		if m, ok := hostnameMatch(listener, h); ok && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, len(out) > 0
}

// hasDuplicates says whether a short list repeats a string.
func hasDuplicates(ss []string) bool {
	for i, s := range ss {
		if slices.Contains(ss[:i], s) {
			return true
		}
	}
	return false
}
