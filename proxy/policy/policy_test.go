package policy

import (
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
)

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want string
	}{{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {20 * time.Second, "20"}} {
		if got := RetryAfter(c.wait); got != c.want {
			t.Errorf("RetryAfter(%s) = %s, want %s", c.wait, got, c.want)
		}
	}
}

func TestPhases(t *testing.T) {
	want := []struct {
		name string
		cel  cel.Phase
	}{
		{"Limits", ""},
		{"Authentication", cel.PhaseAuthorization},
		{"CSRF", ""},
		{"ExtAuth", cel.PhaseAuthorization},
		{"Authorization", cel.PhaseAuthorization},
		{"RateLimit", cel.PhaseRateLimitDescriptor},
		{"Transform", cel.PhaseRequestHeaders},
	}
	for p := PhaseLimits; p <= PhaseTransform; p++ {
		if p.String() != want[p].name || p.CEL() != want[p].cel {
			t.Errorf("phase %d: %s %q, want %s %q", int(p), p, p.CEL(), want[p].name, want[p].cel)
		}
	}
	if got := Phase(len(want)).String(); got != "Phase(7)" {
		t.Errorf("unknown phase named %q", got)
	}
}
