package conformance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/flags"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/features"
	"sigs.k8s.io/yaml"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
)

// Environment knobs (all optional except AGW_CONFORMANCE=1):
//
//	AGW_CONFORMANCE=1                  run at all (otherwise the test skips; CI's go test ./... is unaffected)
//	AGW_CONFORMANCE_PROFILES           comma-separated profiles, default all five Gateway profiles
//	                                   (GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,GATEWAY-TCP,GATEWAY-UDP)
//	AGW_CONFORMANCE_GATEWAYCLASS       default agentgateway
//	AGW_CONFORMANCE_SUPPORTED_FEATURES comma-separated features; empty = inferred from the
//	                                   GatewayClass status.supportedFeatures (set by the operator)
//	AGW_CONFORMANCE_EXEMPT_FEATURES    comma-separated features to exempt (disables inference)
//	AGW_CONFORMANCE_ALL_FEATURES=1     enable every feature the suite knows
//	AGW_CONFORMANCE_SKIP_TESTS         comma-separated test short names to skip
//	AGW_CONFORMANCE_RUN_TEST           a single test short name (disables inference)
//	AGW_CONFORMANCE_REPORT             report path, default e2e/conformance-report.yaml
//	AGW_CONFORMANCE_VERSION            implementation version in the report, default the commit
//	                                   checked out (git rev-parse HEAD, -dirty with uncommitted
//	                                   changes to tracked files), dev outside a git checkout
//	AGW_CONFORMANCE_USABLE_ADDRESS     an IP the load balancer can assign (GatewayStaticAddresses),
//	                                   default the last address of the local cluster's pool
//	AGW_CONFORMANCE_UNUSABLE_ADDRESS   an IP it cannot, default one outside that pool
//
// The upstream flags (-gateway-class, -supported-features, -report-output, ...) still work
// and take precedence over the environment when given explicitly.
const (
	// unusableAddress is outside the local cluster's load balancer pool (10.245.0.0/24) and
	// outside its pod and service ranges.
	unusableAddress     = "10.245.1.1"
	defaultGatewayClass = "agentgateway"
	defaultProfiles     = "GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,GATEWAY-TCP,GATEWAY-UDP"
)

// pendingFeatures are the extended features of the five Gateway profiles that
// agentgateway-go does not implement yet: the GatewayClass does not claim them, so the suite
// runs none of their tests and the report lists them as unsupported. The report check accepts
// exactly these; any other unsupported feature fails it. Every v1.7.0 feature is claimed.
var pendingFeatures = sets.New[string]()

func TestConformance(t *testing.T) {
	if os.Getenv("AGW_CONFORMANCE") != "1" {
		t.Skip("upstream Gateway API conformance needs a running cluster with agentgateway-go installed: " +
			"set AGW_CONFORMANCE=1 and KUBECONFIG (hack/conformance.sh does both)")
	}
	if os.Getenv("KUBECONFIG") == "" {
		t.Fatal("AGW_CONFORMANCE=1 but KUBECONFIG is not set (export KUBECONFIG=$(hack/local-cluster.sh kubeconfig))")
	}

	// DefaultOptions builds the clients from KUBECONFIG, registers the Gateway API schemes
	// and applies the upstream defaults and any explicitly set upstream flags.
	opts := conformance.DefaultOptions(t)

	opts.GatewayClassName = envOr("AGW_CONFORMANCE_GATEWAYCLASS", defaultGatewayClass)
	opts.ConformanceProfiles = nil
	for _, p := range splitList(envOr("AGW_CONFORMANCE_PROFILES", defaultProfiles)) {
		opts.ConformanceProfiles = append(opts.ConformanceProfiles, suite.ConformanceProfileName(strings.ToUpper(p)))
	}
	opts.SupportedFeatures = featureNames(os.Getenv("AGW_CONFORMANCE_SUPPORTED_FEATURES"))
	opts.ExemptFeatures = featureNames(os.Getenv("AGW_CONFORMANCE_EXEMPT_FEATURES"))
	opts.EnableAllSupportedFeatures = os.Getenv("AGW_CONFORMANCE_ALL_FEATURES") == "1"
	opts.SkipTests = splitList(os.Getenv("AGW_CONFORMANCE_SKIP_TESTS"))
	opts.RunTest = os.Getenv("AGW_CONFORMANCE_RUN_TEST")
	opts.ReportOutputPath = envOr("AGW_CONFORMANCE_REPORT", defaultReportPath(t))
	opts.Implementation = confv1.Implementation{
		Organization: "agentgateway-go",
		Project:      "agentgateway-go",
		URL:          "https://github.com/agentgateway/agentgateway-go",
		Version:      envOr("AGW_CONFORMANCE_VERSION", commitVersion(".")),
		Contact:      []string{"https://github.com/agentgateway/agentgateway-go/issues/new"},
	}
	ip := gwv1.IPAddressType
	opts.UsableNetworkAddresses = []gwv1.GatewaySpecAddress{{Type: &ip, Value: envOr("AGW_CONFORMANCE_USABLE_ADDRESS", localcluster.LBLast)}}
	opts.UnusableNetworkAddresses = []gwv1.GatewaySpecAddress{{Type: &ip, Value: envOr("AGW_CONFORMANCE_UNUSABLE_ADDRESS", unusableAddress)}}
	// Explicit upstream command-line flags win over the environment.
	flags.ApplyAll(&opts.ConfigurableOptions)

	if len(opts.SupportedFeatures) == 0 && len(opts.ExemptFeatures) == 0 && !opts.EnableAllSupportedFeatures && opts.RunTest == "" {
		t.Logf("supported features: inferred from GatewayClass %s status.supportedFeatures", opts.GatewayClassName)
	}
	t.Logf("conformance report: %s", opts.ReportOutputPath)

	// A profile passes only with every core and extended test run and passed: the upstream
	// suite itself does not fail on skipped tests. The suite writes the report in a cleanup;
	// cleanups run last-registered first, so this one, registered before, reads it after.
	if opts.RunTest == "" && len(opts.SkipTests) == 0 {
		t.Cleanup(func() {
			if !t.Failed() {
				checkReport(t, opts.ReportOutputPath)
			}
		})
	}
	conformance.RunConformanceWithOptions(t, opts)
}

// checkReport fails the test for any profile with a failed or skipped test or an
// unsupported extended feature other than the pendingFeatures.
func checkReport(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read report: %v", err)
		return
	}
	var rep confv1.ConformanceReport
	if err := yaml.Unmarshal(b, &rep); err != nil {
		t.Errorf("decode report %s: %v", path, err)
		return
	}
	problems, summary := reportProblems(&rep)
	for _, l := range summary {
		t.Log(l)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// reportProblems lists what keeps a report from "every profile: core and extended success
// with every feature but the pendingFeatures, 0 failed, 0 skipped", and a summary line per
// profile and level (plus one naming the pending features a profile lists as unsupported).
func reportProblems(rep *confv1.ConformanceReport) (problems, summary []string) {
	for _, p := range rep.ProfileReports {
		levels := []struct {
			kind string
			st   confv1.Status
		}{{"core", p.Core}}
		if p.Extended == nil {
			problems = append(problems, p.Name+": no extended results")
		} else {
			var unsupported, pending []string
			for _, f := range p.Extended.UnsupportedFeatures {
				if pendingFeatures.Has(f) {
					pending = append(pending, f)
				} else {
					unsupported = append(unsupported, f)
				}
			}
			if len(unsupported) > 0 {
				problems = append(problems, fmt.Sprintf("%s: extended features not supported: %v", p.Name, unsupported))
			}
			if len(pending) > 0 {
				summary = append(summary, fmt.Sprintf("%s: pending extended features (not claimed): %v", p.Name, pending))
			}
			levels = append(levels, struct {
				kind string
				st   confv1.Status
			}{"extended", p.Extended.Status})
		}
		for _, l := range levels {
			line := fmt.Sprintf("%s %s: %d passed, %d failed, %d skipped", p.Name, l.kind, l.st.Passed, l.st.Failed, l.st.Skipped)
			summary = append(summary, line)
			if l.st.Failed != 0 || l.st.Skipped != 0 {
				problems = append(problems, line)
			}
		}
	}
	return problems, summary
}

// commitVersion is the commit checked out at dir, with -dirty when tracked files other than
// the run's own outputs (the report and README.md, whose tables are rendered from it) have
// uncommitted changes; dev when dir is not in a git checkout or git is missing.
func commitVersion(dir string) string {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil || head == "" {
		return "dev"
	}
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		return "dev"
	}
	changes, err := git("-C", top, "status", "--porcelain", "--untracked-files=no", "--",
		".", ":!e2e/conformance-report.yaml", ":!README.md")
	if err != nil {
		return "dev"
	}
	if changes != "" {
		return head + "-dirty"
	}
	return head
}

func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func featureNames(s string) []features.FeatureName {
	names := sets.New[features.FeatureName]()
	for _, f := range splitList(s) {
		names.Insert(features.FeatureName(f))
	}
	return sets.List(names)
}

// defaultReportPath is e2e/conformance-report.yaml: go test runs in the package directory.
func defaultReportPath(t *testing.T) string {
	p, err := filepath.Abs(filepath.Join("..", "conformance-report.yaml"))
	if err != nil {
		t.Fatalf("report path: %v", err)
	}
	return p
}
