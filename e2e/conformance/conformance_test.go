package conformance

import (
	"os"
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

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
)

// Environment knobs (all optional except AGW_CONFORMANCE=1):
//
//	AGW_CONFORMANCE=1                  run at all (otherwise the test skips; CI's go test ./... is unaffected)
//	AGW_CONFORMANCE_PROFILES           comma-separated profiles, default GATEWAY-HTTP
//	AGW_CONFORMANCE_GATEWAYCLASS       default agentgateway
//	AGW_CONFORMANCE_SUPPORTED_FEATURES comma-separated features; empty = inferred from the
//	                                   GatewayClass status.supportedFeatures (set by the operator)
//	AGW_CONFORMANCE_EXEMPT_FEATURES    comma-separated features to exempt (disables inference)
//	AGW_CONFORMANCE_ALL_FEATURES=1     enable every feature the suite knows
//	AGW_CONFORMANCE_SKIP_TESTS         comma-separated test short names to skip
//	AGW_CONFORMANCE_RUN_TEST           a single test short name (disables inference)
//	AGW_CONFORMANCE_REPORT             report path, default e2e/conformance-report.yaml
//	AGW_CONFORMANCE_VERSION            implementation version in the report, default dev
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
	defaultProfiles     = string(suite.GatewayHTTPConformanceProfileName)
)

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
		Version:      envOr("AGW_CONFORMANCE_VERSION", "dev"),
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

	conformance.RunConformanceWithOptions(t, opts)
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
