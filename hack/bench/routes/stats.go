package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// dist summarizes latencies with nearest-rank percentiles.
type dist struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return dist{n: len(s), p50: percentile(s, 50), p99: percentile(s, 99), max: s[len(s)-1]}
}

// percentile of sorted s by nearest rank: the smallest value with at least p% of the
// samples at or below it.
func percentile(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func (d dist) String() string {
	if d.n == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", d.n, ms(d.p50), ms(d.p99), ms(d.max))
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// mib formats a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
