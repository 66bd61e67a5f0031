package conformance

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/yaml"
)

// TestReportProblems checks the strict reading of a report against the committed one (which
// must be clean) and against copies with a skipped test, an unsupported feature and a
// pending one (accepted, and named in the summary).
func TestReportProblems(t *testing.T) {
	b, err := os.ReadFile("../conformance-report.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rep confv1.ConformanceReport
	if err := yaml.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.ProfileReports) != 5 {
		t.Errorf("committed report has %d profiles, want the five Gateway profiles", len(rep.ProfileReports))
	}
	if problems, _ := reportProblems(&rep); len(problems) > 0 {
		t.Errorf("committed report is not clean: %v", problems)
	}
	rep.ProfileReports[0].Extended.Skipped = 1
	rep.ProfileReports[1].Extended.UnsupportedFeatures = []string{"SomeFeature"}
	// Any pending feature serves as the example (none once every feature is claimed).
	pending := sets.List(pendingFeatures)
	if len(pending) > 0 {
		rep.ProfileReports[1].Extended.UnsupportedFeatures = append(rep.ProfileReports[1].Extended.UnsupportedFeatures, pending[0])
	}
	problems, summary := reportProblems(&rep)
	if len(problems) != 2 || !strings.Contains(problems[0], "1 skipped") || !strings.Contains(problems[1], "[SomeFeature]") {
		t.Errorf("problems %q", problems)
	}
	if len(pending) > 0 && !strings.Contains(strings.Join(summary, "\n"), "pending extended features (not claimed): ["+pending[0]+"]") {
		t.Errorf("summary %q does not name the pending feature", summary)
	}
}
