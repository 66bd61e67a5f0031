package policy

import (
	"testing"
	"time"
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
