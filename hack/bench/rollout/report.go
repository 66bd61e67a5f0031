package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printReport writes the details of each phase, then one line per phase and the summary
// (the last line) for machines.
func printReport(w io.Writer, phases []*phaseCounts) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) } //nolint:errcheck // the report goes to stdout; a failed write has nowhere else to go
	var total phaseCounts
	for _, pc := range phases {
		pc.mu.Lock()
		p("phase %s: %s, %d requests, %d 2xx, %d non-2xx, %d failed", pc.name, pc.wall.Round(time.Millisecond), pc.requests, pc.ok, pc.non2xx, pc.failed)
		if len(pc.pods) > 0 {
			var parts []string
			for _, p := range sortedKeys(pc.pods, func(a, b string) bool { return a < b }) {
				parts = append(parts, fmt.Sprintf("%s=%d", p, pc.pods[p]))
			}
			p("  2xx by echo pod: %s", strings.Join(parts, " "))
		}
		for _, c := range sortedKeys(pc.codes, func(a, b int) bool { return a < b }) {
			p("  status %d: %d", c, pc.codes[c])
		}
		for _, e := range sortedKeys(pc.errs, func(a, b string) bool { return a < b }) {
			p("  failed (%s): %d", e, pc.errs[e])
		}
		for _, a := range pc.samples {
			at := a.at.Sub(pc.start).Round(time.Millisecond)
			if a.code == 0 {
				p("  sample %s (+%s): %v", a.at.UTC().Format("15:04:05.000"), at, a.err)
			} else {
				p("  sample %s (+%s): status %d server=%q body=%q", a.at.UTC().Format("15:04:05.000"), at, a.code, a.server, a.body)
			}
		}
		total.requests += pc.requests
		total.non2xx += pc.non2xx
		total.failed += pc.failed
		pc.mu.Unlock()
	}
	for _, pc := range phases {
		p("bench-rollout: phase=%s %s", pc.name, pc.brief())
	}
	p("bench-rollout: requests=%d non2xx=%d errors=%d", total.requests, total.non2xx, total.failed)
}
