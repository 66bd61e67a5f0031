package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// versioned gives every object of s what an API server would: a UID per identity, a
// resourceVersion that changes whenever the object's content does (here, a hash of it)
// and, for custom resources, a generation that changes whenever anything but metadata and
// status does.
func versioned(t *testing.T, s *Snapshot) *Snapshot {
	t.Helper()
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Struct {
			continue // not a list of objects (SessionSecret)
		}
		for j := range f.Len() {
			obj := f.Index(j).Addr().Interface().(metav1.Object)
			obj.SetResourceVersion("")
			obj.SetUID("")
			obj.SetGeneration(0)
			raw, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(raw)
			if isSpecField(v.Type().Field(i).Name) {
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				delete(m, "metadata")
				delete(m, "status")
				spec, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				g := sha256.Sum256(spec)
				obj.SetGeneration(int64(binary.BigEndian.Uint32(g[:4])) + 1)
			}
			obj.SetResourceVersion(hex.EncodeToString(sum[:6]))
			id := sha256.Sum256([]byte(v.Type().Field(i).Name + "/" + obj.GetNamespace() + "/" + obj.GetName()))
			obj.SetUID(types.UID(hex.EncodeToString(id[:8])))
		}
	}
	return s
}

// isSpecField says whether inputsEpoch identifies the objects of a Snapshot field by
// generation (inputField.spec).
func isSpecField(name string) bool {
	for _, f := range inputFields {
		if f.name == name {
			return f.spec
		}
	}
	return false
}

// TestInputFieldsCoverSnapshot: every Snapshot field is ControllerName, a route field or
// one of inputFields, so a field added to Snapshot fails here until inputsEpoch covers it
// (or it is listed as a route); each entry of inputFields reads the field it names; and the
// fields of custom resources (whose API server raises the generation on spec changes) are
// the ones identified by generation.
func TestInputFieldsCoverSnapshot(t *testing.T) {
	ty := reflect.TypeFor[Snapshot]()
	var have []string
	for i := range ty.NumField() {
		have = append(have, ty.Field(i).Name)
	}
	listed := []string{"ControllerName", "SessionSecret"}
	listed = append(listed, routeFields...)
	for _, f := range inputFields {
		listed = append(listed, f.name)
	}
	slices.Sort(have)
	slices.Sort(listed)
	if !slices.Equal(have, listed) {
		t.Fatalf("Snapshot fields (+) not listed in ControllerName, routeFields and inputFields (-):\n%s", cmp.Diff(listed, have))
	}

	for _, f := range inputFields {
		sf, ok := ty.FieldByName(f.name)
		if !ok {
			t.Fatalf("Snapshot has no field %s", f.name)
		}
		elem := sf.Type.Elem()
		if wantSpec := !strings.HasPrefix(elem.PkgPath(), "k8s.io/api/"); f.spec != wantSpec {
			t.Errorf("%s (%s): spec %v, want %v", f.name, elem, f.spec, wantSpec)
		}
		// A Snapshot with one object, in this field only.
		s := &Snapshot{}
		fv := reflect.ValueOf(s).Elem().FieldByName(f.name)
		fv.Set(reflect.Append(fv, reflect.New(elem).Elem()))
		obj := fv.Index(0).Addr().Interface().(metav1.Object)
		obj.SetName("x")
		obj.SetResourceVersion("7")
		obj.SetGeneration(5)
		for _, g := range inputFields {
			ids, ok := g.ids(s, g.spec, nil)
			if !ok {
				t.Fatalf("%s: the object has a resourceVersion", g.name)
			}
			want := 0
			if g.name == f.name {
				want = 1
			}
			if len(ids) != want {
				t.Fatalf("with one object in %s, inputFields entry %s reads %d objects", f.name, g.name, len(ids))
			}
		}
		before := inputsEpoch(s)
		if f.spec {
			obj.SetGeneration(6)
		} else {
			obj.SetResourceVersion("8")
		}
		if inputsEpoch(s) == before {
			t.Errorf("%s: a changed object kept the inputs' fingerprint", f.name)
		}
		obj.SetResourceVersion("")
		if inputsEpoch(s) != "" {
			t.Errorf("%s: an object without a resourceVersion must turn reuse off", f.name)
		}
	}
}

// sameResult fails unless got equals want in everything: statuses, configs, views, and
// the encoded pieces that pushes are made of.
func sameResult(t *testing.T, what string, got, want *Result) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s: the result differs from a translation from scratch", what)
	}
	for i := range want.Gateways {
		we, ge := want.Gateways[i].Encoded, got.Gateways[i].Encoded
		if (we == nil) != (ge == nil) {
			t.Fatalf("%s: gateway %s: pieces %v, want %v", what, want.Gateways[i].Name, ge != nil, we != nil)
		}
		if we == nil {
			continue
		}
		if ge.Version != we.Version || ge.Size() != we.Size() {
			t.Fatalf("%s: gateway %s: version %s size %d, want %s size %d", what, want.Gateways[i].Name, ge.Version, ge.Size(), we.Version, we.Size())
		}
		// No piece differs: a delta between the two is empty.
		if d := string(configdelta.Diff(we, ge)); d != `{"base":"`+we.Version+`"}` {
			t.Fatalf("%s: gateway %s: pieces differ: %s", what, want.Gateways[i].Name, d)
		}
	}
}

func reusedOf(res *Result) int {
	n := 0
	for _, g := range res.Gateways {
		if g.Encoded != nil {
			n += g.Encoded.Reused()
		}
	}
	return n
}

// TestTranslateReusingEqualsTranslate translates every golden input after every other
// one (with API-server-like resourceVersions): reusing the previous translation's pieces
// never changes the result, and unchanged routes are reused.
func TestTranslateReusingEqualsTranslate(t *testing.T) {
	ins := goldenInputs(t)
	if len(ins) < 10 {
		t.Fatalf("only %d inputs", len(ins))
	}
	snaps := make([]*Snapshot, len(ins))
	for i, in := range ins {
		snaps[i] = versioned(t, loadSnapshot(t, in))
	}
	prevs := make([]*Result, len(ins))
	for j := range ins {
		prevs[j] = TranslateReusing(snaps[j], nil)
		if n := reusedOf(prevs[j]); n != 0 {
			t.Fatalf("a first translation reused %d pieces", n)
		}
	}
	reused, assembled, built := 0, 0, 0
	for i := range ins {
		for j := range ins {
			got := TranslateReusing(snaps[i], prevs[j])
			sameResult(t, goldenName(ins[i])+" after "+goldenName(ins[j]), got, Translate(snaps[i]))
			if i == j {
				reused += reusedOf(got)
				assembled += assembledFrom(got, prevs[j])
				built += builtFrom(got, prevs[j])
			}
		}
	}
	if reused == 0 || assembled == 0 || built == 0 {
		t.Fatalf("translating the same inputs twice reused %d pieces, %d assembled and %d built routes", reused, assembled, built)
	}
}

// TestTranslateReusingAfterChanges: one route changed, added or removed, and a change to
// an input every route depends on.
func TestTranslateReusingAfterChanges(t *testing.T) {
	base := versioned(t, bigSnapshot(20))
	prev := TranslateReusing(base, nil)
	total := 0
	for _, b := range prev.Gateways[0].Config.Binds {
		for _, l := range b.Listeners {
			total += len(l.HTTPRoutes)
		}
	}
	for name, tc := range map[string]struct {
		change func(s *Snapshot)
		reused int // of the routes of base
	}{
		"nothing":        {func(*Snapshot) {}, total},
		"route changed":  {func(s *Snapshot) { s.HTTPRoutes[3].Spec.Hostnames = []gwv1.Hostname{"changed.example.com"} }, total - 1},
		"route removed":  {func(s *Snapshot) { s.HTTPRoutes = append(s.HTTPRoutes[:2:2], s.HTTPRoutes[3:]...) }, total - 1},
		"route added":    {func(s *Snapshot) { s.HTTPRoutes = append(s.HTTPRoutes, *renamed(&s.HTTPRoutes[0], "new")) }, total},
		"service change": {func(s *Snapshot) { s.Services[0].Spec.Ports[0].Port++ }, 0},
		"gateway change": {func(s *Snapshot) { s.Gateways[0].Labels = map[string]string{"x": "y"} }, 0},
		"gateway spec":   {func(s *Snapshot) { s.Gateways[0].Spec.Listeners[0].Hostname = ptr(gwv1.Hostname("*.example.com")) }, 0},
		// A status write (attachedRoutes, after every added route) is not an input.
		"gateway status": {func(s *Snapshot) {
			s.Gateways[0].Status.Listeners = []gwv1.ListenerStatus{{Name: "http", AttachedRoutes: 20}}
		}, total},
		"class status": {func(s *Snapshot) {
			s.GatewayClasses[0].Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue}}
		}, total},
	} {
		t.Run(name, func(t *testing.T) {
			s := versioned(t, bigSnapshot(20))
			tc.change(s)
			s = versioned(t, s)
			got := TranslateReusing(s, prev)
			sameResult(t, name, got, Translate(s))
			if n := reusedOf(got); n != tc.reused {
				t.Fatalf("reused %d pieces, want %d", n, tc.reused)
			}
			// The routes (no policy reaches them) are assembled again only when their
			// pieces are encoded again.
			if n := assembledFrom(got, prev); n != tc.reused {
				t.Fatalf("took %d assembled routes from the previous translation, want %d", n, tc.reused)
			}
			if n := builtFrom(got, prev); n != tc.reused {
				t.Fatalf("took %d built routes from the previous translation, want %d", n, tc.reused)
			}
		})
	}
}

// sameEntries counts the entries of got that are prev's (the same pointer).
func sameEntries[K comparable, V any](got, prev map[K]*V) int {
	n := 0
	for k, v := range got {
		if prev[k] == v {
			n++
		}
	}
	return n
}

// builtFrom counts the built HTTPRoutes of got taken from prev.
func builtFrom(got, prev *Result) int { return sameEntries(got.built, prev.built) }

// assembledFrom counts the assembled routes of got taken from prev.
func assembledFrom(got, prev *Result) int { return sameEntries(got.assembled, prev.assembled) }

func renamed(r *gwv1.HTTPRoute, name string) *gwv1.HTTPRoute {
	c := r.DeepCopy()
	c.Name = name
	return c
}

// A cache lists objects in no particular order: the order of a snapshot's objects does
// not change the fingerprint of the inputs, so pieces are still reused.
func TestTranslateReusingIgnoresOrder(t *testing.T) {
	s := versioned(t, bigSnapshot(20))
	prev := TranslateReusing(s, nil)
	shuffled := versioned(t, bigSnapshot(20))
	rng := rand.New(rand.NewPCG(3, 4))
	v := reflect.ValueOf(shuffled).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice {
			swap := reflect.Swapper(f.Interface())
			rng.Shuffle(f.Len(), swap)
		}
	}
	if inputsEpoch(s) != inputsEpoch(shuffled) {
		t.Fatal("the order of the objects changed the fingerprint of the inputs")
	}
	got := TranslateReusing(shuffled, prev)
	sameResult(t, "shuffled", got, Translate(shuffled))
	if n := reusedOf(got); n != 20 {
		t.Fatalf("reused %d of 20 pieces after a shuffle", n)
	}
}
