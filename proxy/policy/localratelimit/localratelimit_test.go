package localratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestSetKeepsBuckets checks the staging of limiters across reloads: an
// unchanged limit on the same route keeps its bucket (a reload does not
// refill it), another route or a changed limit gets its own, and a
// commit drops what the new config did not use.
func TestSetKeepsBuckets(t *testing.T) {
	serving := NewSet()
	c := &config.LocalRateLimit{Requests: 1, Unit: config.RateLimitHour}
	st := serving.Stage()
	l1, err := st.Get("r1", c)
	if err != nil {
		t.Fatal(err)
	}
	st.Commit()
	serving = st

	call := func(l *Limiter) int {
		w := httptest.NewRecorder()
		l.Request(w, httptest.NewRequest(http.MethodGet, "/", nil), &cel.Activation{})
		return w.Code
	}
	if code := call(l1); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	if code := call(l1); code != http.StatusTooManyRequests {
		t.Fatalf("second request: %d, want 429", code)
	}

	st = serving.Stage()
	same, err := st.Get("r1", &config.LocalRateLimit{Requests: 1, Unit: config.RateLimitHour})
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.Get("r2", c)
	if err != nil {
		t.Fatal(err)
	}
	if same != l1 || call(same) != http.StatusTooManyRequests {
		t.Error("a reload refilled an unchanged limit's bucket")
	}
	if other == l1 || call(other) != http.StatusOK {
		t.Error("another route shares the bucket")
	}
	if len(serving.Snapshot()) != 1 {
		t.Errorf("staging changed the serving set: %d limiters", len(serving.Snapshot()))
	}
	st.Commit()
	serving = st

	st = serving.Stage()
	if _, err := st.Get("r1", &config.LocalRateLimit{Requests: 2, Unit: config.RateLimitHour}); err != nil {
		t.Fatal(err)
	}
	st.Commit()
	if n := len(st.Snapshot()); n != 1 {
		t.Errorf("%d limiters after a config with one, want the unused dropped", n)
	}
}
