package provider

import (
	"testing"
	"time"
)

func TestPacerIsolatedChangesNeverWait(t *testing.T) {
	p := newPacer(time.Second)
	now := time.Unix(1000, 0)
	// A reconcile of 40 ms every 100 ms uses 40% of the time: under the share, never paced.
	for i := range 1000 {
		if d := p.delay(now, 0.5); d != 0 {
			t.Fatalf("reconcile %d: delayed %v, want no delay under the share", i, d)
		}
		now = now.Add(40 * time.Millisecond)
		p.spend(now, 40*time.Millisecond, 0.5)
		now = now.Add(60 * time.Millisecond)
	}
}

func TestPacerBoundsBackToBackReconciles(t *testing.T) {
	p := newPacer(time.Second)
	start := time.Unix(1000, 0)
	now := start
	var busy time.Duration
	waited := false
	// A burst: a 50 ms reconcile is always wanted again as soon as the last one ends.
	for range 400 {
		if d := p.delay(now, 0.5); d > 0 {
			waited = true
			now = now.Add(d)
			if again := p.delay(now, 0.5); again != 0 {
				t.Fatalf("still delayed %v after waiting the delay it gave", again)
			}
		}
		now = now.Add(50 * time.Millisecond)
		p.spend(now, 50*time.Millisecond, 0.5)
		busy += 50 * time.Millisecond
	}
	if !waited {
		t.Fatal("a burst of back-to-back reconciles was never paced")
	}
	wall := now.Sub(start)
	// The bucket pays for the first second (burst); the wall time refills the rest at half
	// a second per second, so busy - burst = 0.5 * wall.
	want := time.Duration(float64(busy-time.Second) / 0.5)
	if wall < want-100*time.Millisecond || wall > want+100*time.Millisecond {
		t.Fatalf("20 s of reconciles took %v of wall time, want about %v (share 0.5 after a 1 s burst)", wall, want)
	}
}

func TestPacerRefillsOnlyUpToBurst(t *testing.T) {
	p := newPacer(200 * time.Millisecond)
	now := time.Unix(1000, 0)
	p.delay(now, 0.5)
	now = now.Add(time.Hour) // a long quiet period must not bank an hour of reconciling
	p.spend(now, 300*time.Millisecond, 0.5)
	if d := p.delay(now, 0.5); d != 200*time.Millisecond {
		t.Fatalf("after spending 300 ms with a 200 ms burst: delay %v, want 200ms (100 ms debt at share 0.5)", d)
	}
}

func TestPacerClockGoingBack(t *testing.T) {
	p := newPacer(time.Second)
	now := time.Unix(1000, 0)
	p.spend(now, 100*time.Millisecond, 0.5)
	if d := p.delay(now.Add(-time.Minute), 0.5); d != 0 {
		t.Fatalf("delay %v after the clock went back, want 0 (tokens left)", d)
	}
}

func TestPacing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		leader    bool
		served    bool
		pending   int64
		wantPaced bool
		wantShare float64
	}{
		{"leader, served, lone change", true, true, 1, false, paceShare},
		{"follower, served, lone change", false, true, 1, false, paceShare},
		{"follower, served, burst", false, true, 5, true, paceShare},
		{"leader, not served, lone change", true, false, 1, true, paceShare},
		{"leader, not served, burst", true, false, 7, true, paceShare},
		{"follower, not served, lone change", false, false, 1, true, paceShareIdle},
		{"follower, not served, burst", false, false, 9, true, paceShareIdle},
	} {
		paced, share := pacing(tc.leader, tc.served, tc.pending)
		if paced != tc.wantPaced || share != tc.wantShare {
			t.Errorf("%s: pacing = %v, %v; want %v, %v", tc.name, paced, share, tc.wantPaced, tc.wantShare)
		}
	}
}
