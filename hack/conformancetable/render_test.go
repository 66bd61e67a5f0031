package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testReport = `apiVersion: gateway.networking.k8s.io/v1
date: "2026-12-07T20:52:28Z"
gatewayAPIChannel: experimental
gatewayAPIVersion: v1.7.0
implementation:
  contact:
  - https://example.com/issues
  organization: org
  project: proj
  url: https://github.com/example/proj
  version: 0123456789abcdef0123456789abcdef01234567-dirty
kind: ConformanceReport
mode: default
profiles:
- core:
    result: success
    statistics:
      Failed: 0
      Passed: 40
      Skipped: 0
  extended:
    result: success
    statistics:
      Failed: 1
      Passed: 3
      Skipped: 2
    supportedFeatures:
    - HTTPRouteCORS
    - GatewayPort8080
    unsupportedFeatures:
    - HTTPRouteRetryCodes
  name: GATEWAY-HTTP
  summary: x
- core:
    result: success
    statistics:
      Failed: 0
      Passed: 20
      Skipped: 0
  extended:
    result: success
    statistics:
      Failed: 0
      Passed: 5
      Skipped: 0
    supportedFeatures:
    - GatewayPort8080
    - TCPRoute
  name: GATEWAY-TCP
  summary: x
succeededProvisionalTests:
- A
- B
`

const wantRendering = "| profile | core | extended |\n" +
	"|---|---|---|\n" +
	"| GATEWAY-HTTP | 40 passed, 0 failed, 0 skipped | 3 passed, 1 failed, 2 skipped (2 features), 1 unsupported |\n" +
	"| GATEWAY-TCP | 20 passed, 0 failed, 0 skipped | 5 passed, 0 failed, 0 skipped (2 features) |\n" +
	"\n" +
	"Extended features by profile (✓: supported, its tests ran and passed; unsupported: its tests did not run):\n" +
	"\n" +
	"| feature | HTTP | TCP |\n" +
	"|---|---|---|\n" +
	"| GatewayPort8080 | ✓ | ✓ |\n" +
	"| HTTPRouteCORS | ✓ | |\n" +
	"| HTTPRouteRetryCodes | unsupported | |\n" +
	"| TCPRoute | | ✓ |\n" +
	"\n" +
	"Rendered by [`hack/conformancetable`](hack/conformancetable) from [`e2e/conformance-report.yaml`](e2e/conformance-report.yaml) " +
	"as `make conformance` last wrote it: 2026-12-07, Gateway API suite v1.7.0 (experimental channel, default mode), " +
	"commit [`0123456789ab`](https://github.com/example/proj/commit/0123456789abcdef0123456789abcdef01234567) with uncommitted changes. " +
	"Summed over the profiles (a test counts once for each profile that runs it): 68 passed, 1 failed, 2 skipped; " +
	"2 provisional tests passed as well.\n"

func TestRender(t *testing.T) {
	rep, err := parseReport([]byte(testReport))
	if err != nil {
		t.Fatal(err)
	}
	if got := render(rep); got != wantRendering {
		t.Fatalf("render:\n%s\nwant:\n%s", got, wantRendering)
	}
}

func TestProducedFrom(t *testing.T) {
	rep, err := parseReport([]byte(testReport))
	if err != nil {
		t.Fatal(err)
	}
	for version, want := range map[string]string{
		"dev":     "implementation version `dev` (no commit recorded)",
		"89c9629": "commit [`89c9629`](https://github.com/example/proj/commit/89c9629)",
		"0123456789abcdef0123456789abcdef01234567": "commit [`0123456789ab`](https://github.com/example/proj/commit/0123456789abcdef0123456789abcdef01234567)",
		"v1.2.3": "implementation version `v1.2.3` (no commit recorded)",
	} {
		impl := rep.Implementation
		impl.Version = version
		if got := producedFrom(impl); got != want {
			t.Errorf("version %q: %q, want %q", version, got, want)
		}
	}
}

func TestParseReportRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"no profiles":     "date: x\nprofiles: []\n",
		"unknown field":   testReport + "extra: 1\n",
		"unnamed profile": "profiles:\n- core:\n    result: success\n",
		"not yaml":        "profiles: [\n",
	} {
		if _, err := parseReport([]byte(doc)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestSplice(t *testing.T) {
	doc := "# t\n\n" + BeginMarker + "\nold\ntable\n" + EndMarker + "\n\nafter\n"
	got, err := splice(doc, "new\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# t\n\n" + BeginMarker + "\nnew\n" + EndMarker + "\n\nafter\n"
	if got != want {
		t.Fatalf("splice: %q, want %q", got, want)
	}
	again, err := splice(got, "new\n")
	if err != nil || again != got {
		t.Fatalf("splice twice: %q, %v", again, err)
	}
	for name, bad := range map[string]string{
		"no begin":        "x\n" + EndMarker + "\n",
		"no end":          BeginMarker + "\nx\n",
		"two begins":      BeginMarker + "\n" + EndMarker + "\n" + BeginMarker + "\n" + EndMarker + "\n",
		"end inside line": BeginMarker + "\nx " + EndMarker + "\n",
	} {
		if _, err := splice(bad, "new\n"); err == nil {
			t.Errorf("%s: spliced without error", name)
		}
	}
}

// TestRunCheckAndWrite runs the command's work on files: -check fails on a stale README and
// leaves it alone; the rewrite makes -check pass and keeps the text around the markers.
func TestRunCheckAndWrite(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.yaml")
	readme := filepath.Join(dir, "README.md")
	stale := "intro\n" + BeginMarker + "\n| hand typed |\n" + EndMarker + "\noutro\n"
	if err := os.WriteFile(report, []byte(testReport), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(readme, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(report, readme, true); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("check of a stale README: %v, want an error saying the tables differ", err)
	}
	if b, err := os.ReadFile(readme); err != nil || string(b) != stale {
		t.Fatalf("check changed the README (%v): %q", err, b)
	}
	if err := run(report, readme, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n" + BeginMarker + "\n" + wantRendering + EndMarker + "\noutro\n"; string(b) != want {
		t.Fatalf("rewritten README:\n%s\nwant:\n%s", b, want)
	}
	if err := run(report, readme, true); err != nil {
		t.Fatalf("check after the rewrite: %v", err)
	}
}

// TestRepositoryREADME is make verify's check: README.md shows what the committed report renders.
func TestRepositoryREADME(t *testing.T) {
	if err := run("../../e2e/conformance-report.yaml", "../../README.md", true); err != nil {
		t.Fatal(err)
	}
}

func TestProfilesInFixedOrder(t *testing.T) {
	doc := "profiles:\n" +
		"- name: GATEWAY-UDP\n  core:\n    result: success\n" +
		"- name: MESH-HTTP\n  core:\n    result: success\n" +
		"- name: GATEWAY-HTTP\n  core:\n    result: success\n" +
		"- name: GATEWAY-TLS\n  core:\n    result: success\n"
	rep, err := parseReport([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range rep.ProfileReports {
		names = append(names, p.Name)
	}
	if got, want := strings.Join(names, ","), "GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-UDP,MESH-HTTP"; got != want {
		t.Fatalf("profiles in order %s, want %s", got, want)
	}
}
