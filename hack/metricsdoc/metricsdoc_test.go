package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceCurrent: docs/metrics.md is what the collectors say, every name follows the
// scheme, and the Grafana dashboard queries only documented metrics.
func TestReferenceCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	if err := run(true, filepath.Join(root, "docs", "metrics.md"), filepath.Join(root, "manifests", "grafana", "agentgateway.json")); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardCheckCatchesUnknownNames: a query naming a metric the reference does not
// list fails the check.
func TestDashboardCheckCatchesUnknownNames(t *testing.T) {
	comps, err := components()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "d.json")
	for _, c := range []struct {
		json, wantErr string
	}{
		{`{"panels":[{"targets":[{"expr":"rate(agentgateway_requests_total[5m])"},{"expr":"histogram_quantile(0.9, rate(agentgateway_request_duration_seconds_bucket[5m]))"}]}]}`, ""},
		{`{"panels":[{"targets":[{"expr":"rate(agentgateway_request_total[5m])"}]}]}`, "agentgateway_request_total"},
		{`{"panels":[{"targets":[{"expr":"rate(agentgateway_requests_total_bucket[5m])"}]}]}`, "agentgateway_requests_total_bucket"},
		{`{"panels":[]}`, "no queries"},
	} {
		if err := os.WriteFile(path, []byte(c.json), 0o600); err != nil {
			t.Fatal(err)
		}
		err := checkDashboard(path, comps)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.json, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v; want one naming %q", c.json, err, c.wantErr)
		}
	}
}
