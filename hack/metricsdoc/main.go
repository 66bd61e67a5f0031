// Command metricsdoc writes docs/metrics.md, the reference of the metrics the proxy and the
// operator export, from their collectors: it builds each component's collectors on a fresh
// registry, makes one series of every labelled family, gathers them and prints name, type,
// labels and help. Help strings are the documentation.
//
// It also enforces the naming scheme (agentgateway_ prefix, units in names, counters end in
// _total, promlint clean) and, with -check, that the reference is current and that the
// Grafana dashboard queries only documented metrics.
//
//	go run ./hack/metricsdoc          # write docs/metrics.md
//	go run ./hack/metricsdoc -check   # fail if it is stale or the dashboard is not covered
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
)

func main() {
	check := flag.Bool("check", false, "fail if the reference is stale or the dashboard uses an undocumented metric")
	out := flag.String("out", "docs/metrics.md", "reference to write or check")
	dashboard := flag.String("dashboard", "manifests/grafana/agentgateway.json", "Grafana dashboard whose queries must use documented metrics")
	flag.Parse()
	if err := run(*check, *out, *dashboard); err != nil {
		fmt.Fprintln(os.Stderr, "metricsdoc:", err)
		os.Exit(1)
	}
}

func run(check bool, out, dashboard string) error {
	comps, err := components()
	if err != nil {
		return err
	}
	doc := render(comps)
	if !check {
		return os.WriteFile(out, doc, 0o644)
	}
	have, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if !bytes.Equal(have, doc) {
		return fmt.Errorf("%s is stale: run go run ./hack/metricsdoc", out)
	}
	if dashboard == "" {
		return nil
	}
	return checkDashboard(dashboard, comps)
}
