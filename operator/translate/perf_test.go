package translate

import (
	"fmt"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// The tests below pin helpers that were rewritten to allocate less to what the simpler code
// they replaced returned.

// The version is the content hash of the config's pieces, and the pieces handed to the
// config server are those of the config.
func TestVersionIsHashOfPieces(t *testing.T) {
	ins := goldenInputs(t)
	n := 0
	for _, in := range ins {
		for _, g := range Translate(loadSnapshot(t, in)).Gateways {
			if g.Config == nil {
				if g.Encoded != nil {
					t.Errorf("%s: gateway %s: pieces without a config", in, g.Name)
				}
				continue
			}
			c := *g.Config
			c.Version = "something else"
			e, err := configdelta.Encode(&c)
			if err != nil {
				t.Fatal(err)
			}
			if g.Config.Version != e.Version || g.Encoded == nil || g.Encoded.Version != e.Version || g.Encoded.Size() != e.Size() {
				t.Errorf("%s: gateway %s: version %s, pieces %v, want %s", in, g.Name, g.Config.Version, g.Encoded, e.Version)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no configs")
	}
}

func TestRenderHeaders(t *testing.T) {
	// The rendering before it was built in one allocation.
	join := func(hm *config.HeaderModifier) string {
		var parts []string
		for _, h := range hm.Set {
			parts = append(parts, "set "+h.Name+"="+h.Value)
		}
		for _, h := range hm.Add {
			parts = append(parts, "add "+h.Name+"="+h.Value)
		}
		for _, h := range hm.Remove {
			parts = append(parts, "remove "+h)
		}
		return strings.Join(parts, " ")
	}
	hs := []config.HTTPHeader{{Name: "x-a", Value: "1"}, {Name: "x-b", Value: ""}, {Name: "", Value: "v w"}}
	for _, hm := range []*config.HeaderModifier{
		{},
		{Set: hs[:1]},
		{Add: hs[1:2]},
		{Remove: []string{"x-c"}},
		{Set: hs, Add: hs[:2], Remove: []string{"x-c", "", "x-d"}},
		{Add: hs, Remove: []string{"x-e"}},
	} {
		for _, prefix := range []string{"RequestHeaderModifier ", ""} {
			if got, want := renderHeaders(prefix, hm), prefix+join(hm); got != want {
				t.Errorf("renderHeaders(%q, %+v) = %q, want %q", prefix, hm, got, want)
			}
		}
	}
}

func TestParentRefString(t *testing.T) {
	// The format before it was built without fmt.
	sprintf := func(p gwv1.ParentReference) string {
		s := fmt.Sprintf("%v/%v/%v/%s", deref(p.Group, gwv1.GroupName), deref(p.Kind, "Gateway"), deref(p.Namespace, ""), p.Name)
		if p.SectionName != nil {
			s += "#" + string(*p.SectionName)
		}
		if p.Port != nil {
			s += fmt.Sprintf(":%d", *p.Port)
		}
		return s
	}
	for _, p := range []gwv1.ParentReference{
		{Name: "gw"},
		{Name: "gw", Namespace: ptr(gwv1.Namespace("ns")), SectionName: ptr(gwv1.SectionName("http"))},
		{Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind("ListenerSet")), Name: "ls", Port: ptr(gwv1.PortNumber(8443))},
		{Name: "gw", Port: ptr(gwv1.PortNumber(0)), SectionName: ptr(gwv1.SectionName(""))},
	} {
		if got, want := parentRefString(p), sprintf(p); got != want {
			t.Errorf("parentRefString(%+v) = %q, want %q", p, got, want)
		}
	}
}
