package effectiveconfig

import (
	"testing"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
)

func TestWeightCountsListenersAndRoutes(t *testing.T) {
	ec := &viewsv1a1.EffectiveConfig{Listeners: []viewsv1a1.EffectiveListener{
		{Routes: make([]viewsv1a1.EffectiveRoute, 3)},
		{},
	}}
	if got := weight(ec); got != 6 { // the object, two listeners, three routes
		t.Fatalf("weight %d, want 6", got)
	}
	if got := weight("not an EffectiveConfig"); got != 1 {
		t.Fatalf("weight of another type %d, want 1", got)
	}
}
