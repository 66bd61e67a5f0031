package translate

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestHostnameMatch(t *testing.T) {
	cases := []struct {
		listener, route, want string
		ok                    bool
	}{
		{"", "foo.example.com", "foo.example.com", true},
		{"", "*.example.com", "*.example.com", true},
		{"foo.example.com", "", "foo.example.com", true},
		{"foo.example.com", "foo.example.com", "foo.example.com", true},
		{"foo.example.com", "bar.example.com", "", false},
		{"*.example.com", "foo.example.com", "foo.example.com", true},
		{"*.example.com", "a.b.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", "", false},
		{"*.example.com", "fooexample.com", "", false},
		{"foo.example.com", "*.example.com", "foo.example.com", true},
		{"example.com", "*.example.com", "", false},
		{"*.example.com", "*.foo.example.com", "*.foo.example.com", true},
		{"*.foo.example.com", "*.example.com", "*.foo.example.com", true},
		{"*.example.com", "*.example.org", "", false},
		{"*.example.com", "*.com", "*.example.com", true},
	}
	for _, c := range cases {
		got, ok := hostnameMatch(c.listener, c.route)
		if got != c.want || ok != c.ok {
			t.Errorf("hostnameMatch(%q, %q) = %q, %v; want %q, %v", c.listener, c.route, got, ok, c.want, c.ok)
		}
	}
}

func TestIntersectHostnames(t *testing.T) {
	cases := []struct {
		listener string
		route    []string
		want     []string
		ok       bool
	}{
		{"", nil, nil, true},
		{"*.example.com", nil, []string{"*.example.com"}, true},
		{"*.example.com", []string{"a.example.com", "a.example.org", "a.example.com"}, []string{"a.example.com"}, true},
		{"*.example.com", []string{"a.example.org"}, nil, false},
		{"", []string{"a.com", "*.b.com"}, []string{"a.com", "*.b.com"}, true},
		{"", []string{"a.com", "a.com", "b.com"}, []string{"a.com", "b.com"}, true},
		{"*.a.com", []string{"*.x.a.com", "*.com", "y.a.com"}, []string{"*.x.a.com", "*.a.com", "y.a.com"}, true},
	}
	for _, c := range cases {
		got, ok := intersectHostnames(c.listener, c.route)
		if !reflect.DeepEqual(got, c.want) || ok != c.ok {
			t.Errorf("intersectHostnames(%q, %v) = %v, %v; want %v, %v", c.listener, c.route, got, ok, c.want, c.ok)
		}
	}
}

func TestConflictReason(t *testing.T) {
	l := func(port int32, p gwv1.ProtocolType, host string) *listenerIR {
		return &listenerIR{port: port, protocol: p, hostname: host, conds: newConds(1)}
	}
	cases := []struct {
		name string
		a, b *listenerIR
		want string
	}{
		{"different ports", l(80, gwv1.HTTPProtocolType, ""), l(81, gwv1.HTTPProtocolType, ""), ""},
		{"different hostnames", l(80, gwv1.HTTPProtocolType, "a.com"), l(80, gwv1.HTTPProtocolType, "b.com"), ""},
		{"same hostname", l(80, gwv1.HTTPProtocolType, "a.com"), l(80, gwv1.HTTPProtocolType, "a.com"), "HostnameConflict"},
		{"both empty hostname", l(80, gwv1.HTTPProtocolType, ""), l(80, gwv1.HTTPProtocolType, ""), "HostnameConflict"},
		{"HTTP and HTTPS on one port", l(443, gwv1.HTTPProtocolType, "a.com"), l(443, gwv1.HTTPSProtocolType, "b.com"), "ProtocolConflict"},
		{"TCP next to HTTP", l(80, gwv1.TCPProtocolType, ""), l(80, gwv1.HTTPProtocolType, "a.com"), "ProtocolConflict"},
		{"two TCP listeners", l(9000, gwv1.TCPProtocolType, ""), l(9000, gwv1.TCPProtocolType, ""), "HostnameConflict"},
		{"TCP and UDP share a number", l(53, gwv1.TCPProtocolType, ""), l(53, gwv1.UDPProtocolType, ""), ""},
		{"HTTPS and TLS on one port", l(443, gwv1.HTTPSProtocolType, "a.com"), l(443, gwv1.TLSProtocolType, "b.com"), "ProtocolConflict"},
	}
	for _, c := range cases {
		if got := conflictReason(c.a, c.b); got != c.want {
			t.Errorf("%s: conflictReason = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestMarkConflictsPrecedence(t *testing.T) {
	gwL := &listenerIR{name: "gw", port: 80, protocol: gwv1.HTTPProtocolType, conds: newConds(1)}
	setL := &listenerIR{name: "set", set: &listenerSetIR{}, port: 80, protocol: gwv1.HTTPProtocolType, conds: newConds(1)}
	for _, l := range []*listenerIR{gwL, setL} {
		l.conds.set(condAccepted, true, "Accepted", "")
	}
	markConflicts([]*listenerIR{gwL, setL}, false)
	if !gwL.usable() {
		t.Errorf("the Gateway listener must win a conflict with a ListenerSet listener")
	}
	if setL.usable() {
		t.Errorf("the ListenerSet listener must lose")
	}

	a := &listenerIR{name: "a", port: 80, protocol: gwv1.HTTPProtocolType, conds: newConds(1)}
	b := &listenerIR{name: "b", port: 80, protocol: gwv1.HTTPProtocolType, conds: newConds(1)}
	markConflicts([]*listenerIR{a, b}, true)
	if a.usable() || b.usable() {
		t.Errorf("conflicting Gateway listeners must all lose")
	}
}

func TestGRPCPath(t *testing.T) {
	s := func(v string) *string { return &v }
	re := gwv1.GRPCMethodMatchRegularExpression
	cases := []struct {
		m    *gwv1.GRPCMethodMatch
		want string
	}{
		{nil, "<nil>"},
		{&gwv1.GRPCMethodMatch{Service: s("a.B"), Method: s("C")}, "Exact /a.B/C"},
		{&gwv1.GRPCMethodMatch{Service: s("a.B")}, "PathPrefix /a.B"},
		{&gwv1.GRPCMethodMatch{Method: s("C.d")}, `RegularExpression /[^/]+/C\.d`},
		{&gwv1.GRPCMethodMatch{Type: &re, Service: s("a\\..*")}, `RegularExpression /a\..*/[^/]+`},
	}
	for _, c := range cases {
		got := "<nil>"
		if p := grpcPath(c.m); p != nil {
			got = string(p.Type) + " " + p.Value
		}
		if got != c.want {
			t.Errorf("grpcPath(%+v) = %s, want %s", c.m, got, c.want)
		}
	}
}

func TestVersionIsContentHash(t *testing.T) {
	s := bigSnapshot(3)
	v1 := Translate(s).Gateways[0].Config.Version
	if v2 := Translate(bigSnapshot(3)).Gateways[0].Config.Version; v1 != v2 {
		t.Fatalf("equal inputs gave versions %s and %s", v1, v2)
	}
	// Unrelated objects do not change the version.
	s2 := bigSnapshot(3)
	s2.Services = append(s2.Services, s2.Services[0])
	s2.Services[len(s2.Services)-1].Name = "unused"
	if v := Translate(s2).Gateways[0].Config.Version; v != v1 {
		t.Errorf("an unused Service changed the version: %s -> %s", v1, v)
	}
	// A route change does.
	s3 := bigSnapshot(3)
	s3.HTTPRoutes[1].Spec.Rules[0].Matches[0].Path.Value = ptr("/changed")
	if v := Translate(s3).Gateways[0].Config.Version; v == v1 {
		t.Errorf("a route change kept version %s", v)
	}
}

// TestTranslateDoesNotMutateSnapshot compares the Snapshot after Translate and
// TranslateReusing with an identical one that was not translated; reflect.DeepEqual also
// sees changes JSON would hide (nil against empty, omitted fields).
func TestTranslateDoesNotMutateSnapshot(t *testing.T) {
	for name, translate := range map[string]func(s *Snapshot){
		"Translate":        func(s *Snapshot) { Translate(s) },
		"TranslateReusing": func(s *Snapshot) { TranslateReusing(s, TranslateReusing(s, nil)) },
	} {
		s := versioned(t, bigSnapshot(5))
		translate(s)
		if want := versioned(t, bigSnapshot(5)); !reflect.DeepEqual(s, want) {
			t.Errorf("%s mutated its input (-before +after):\n%s", name, mutation(cmp.Diff(mustJSON(t, want), mustJSON(t, s))))
		}
	}
}

func TestGatewaysAreIsolated(t *testing.T) {
	two := func(path string) *Snapshot {
		s := bigSnapshot(2)
		gw2 := s.Gateways[0]
		gw2.Name = "gw2"
		s.Gateways = append(s.Gateways, gw2)
		s.HTTPRoutes[1].Spec.ParentRefs[0].Name = "gw2"
		s.HTTPRoutes[1].Spec.Rules[0].Matches[0].Path.Value = ptr(path)
		return s
	}
	a, b := Translate(two("/one")), Translate(two("/two"))
	if a.Gateways[0].Config.Version != b.Gateways[0].Config.Version {
		t.Errorf("a route of gw2 changed gw's version")
	}
	if a.Gateways[1].Config.Version == b.Gateways[1].Config.Version {
		t.Errorf("gw2's version did not change with its route")
	}
}
