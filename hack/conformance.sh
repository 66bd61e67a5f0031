#!/usr/bin/env bash
# conformance.sh (make conformance): brings up the local cluster with agentgateway-go installed
# (hack/run-demo.sh), then runs the unmodified upstream Gateway API conformance suite v1.7.0
# (e2e/conformance) against GatewayClass agentgateway. Report: e2e/conformance-report.yaml.
# It fails unless every profile run has core and extended success with every feature
# supported, 0 failed and 0 skipped. Needs root. Environment: AGW_CONFORMANCE_PROFILES
# (default all five Gateway profiles; e.g. GATEWAY-HTTP alone) and the other
# AGW_CONFORMANCE_* knobs documented in e2e/conformance/conformance_test.go;
# AGW_CONFORMANCE_TIMEOUT (go test -timeout, default 60m); AGW_CONFORMANCE_SKIP_SETUP=1 reuses
# an already running cluster. The cluster is left running: `make down` removes it.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { echo "conformance: $* ($(date -u +%H:%M:%S))"; }

if [ "${AGW_CONFORMANCE_SKIP_SETUP:-0}" != 1 ]; then
  step "local cluster, CRDs, operator (hack/run-demo.sh)"
  hack/run-demo.sh
fi
KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
export KUBECONFIG

step "waiting for GatewayClass agentgateway to be Accepted"
kubectl wait --for=condition=Accepted gatewayclass/agentgateway --timeout=120s
echo "supportedFeatures: $(kubectl get gatewayclass agentgateway -o jsonpath='{.status.supportedFeatures[*].name}')"

report=${AGW_CONFORMANCE_REPORT:-$root/e2e/conformance-report.yaml}
export AGW_CONFORMANCE_REPORT=$report
step "upstream conformance suite (profiles ${AGW_CONFORMANCE_PROFILES:-GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,GATEWAY-TCP,GATEWAY-UDP})"
rc=0
AGW_CONFORMANCE=1 go test ./e2e/conformance/ -run TestConformance -count=1 \
  -timeout "${AGW_CONFORMANCE_TIMEOUT:-60m}" -v "$@" || rc=$?
if [ -f "$report" ]; then
  step "report written to $report"
else
  step "no report written (expected at $report)"
fi
exit $rc
