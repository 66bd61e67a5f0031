package roundtrip

import (
	"fmt"
	"math/rand"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
)

// overlayFuzzerFuncs keeps RawExtension fields valid JSON objects: the API server stores
// overlays as arbitrary JSON, so random bytes would not be a realistic input.
func overlayFuzzerFuncs(_ serializer.CodecFactory) []interface{} {
	return []interface{}{
		func(r *runtime.RawExtension, c randfill.Continue) {
			if c.Bool() {
				r.Raw = []byte(fmt.Sprintf(`{"spec":{"template":{"spec":{"tolerations":[{"key":"k%x","operator":"Exists"}]}}}}`, c.Uint32()))
			} else {
				r.Raw = []byte(`{}`)
			}
		},
	}
}

func TestRoundTripAllTypes(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{agwv1a1.AddToScheme, viewsv1a1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	codecs := serializer.NewCodecFactory(scheme)
	f := fuzzer.FuzzerFor(fuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, overlayFuzzerFuncs), rand.NewSource(rand.Int63()), codecs)

	// Every kind of both groups must be covered: a kind added later without being registered
	// would otherwise silently skip the round trip.
	want := map[schema.GroupVersionKind]bool{}
	for _, k := range []string{"AgentgatewayPolicy", "AgentgatewayParameters", "AgentgatewayBackend"} {
		want[agwv1a1.SchemeGroupVersion.WithKind(k)] = true
		want[agwv1a1.SchemeGroupVersion.WithKind(k+"List")] = true
	}
	for _, k := range []string{"EffectiveConfig", "ProxyStatus"} {
		want[viewsv1a1.SchemeGroupVersion.WithKind(k)] = true
		want[viewsv1a1.SchemeGroupVersion.WithKind(k+"List")] = true
	}
	for gvk := range want {
		if !scheme.Recognizes(gvk) {
			t.Errorf("kind %s is not registered in its group's scheme", gvk)
		}
	}

	for gvk := range want {
		t.Run(gvk.Kind, func(t *testing.T) {
			for i := 0; i < 50; i++ {
				roundtrip.RoundTripSpecificKindWithoutProtobuf(t, gvk, scheme, codecs, f, nil)
			}
		})
	}
}
