#!/usr/bin/env bash
# conformance.sh (make conformance): brings up the local cluster with agentgateway-go installed
# (hack/run-demo.sh), then runs the unmodified upstream Gateway API conformance suite v1.7.0
# (e2e/conformance) against GatewayClass agentgateway. Report: e2e/conformance-report.yaml, its
# implementation.version the commit checked out (-dirty with uncommitted changes to tracked
# files; AGW_CONFORMANCE_VERSION overrides it). After a successful run with the default report
# path, hack/conformancetable rewrites README.md's conformance tables from the report.
# It fails unless every profile run has core and extended success with every feature
# supported but the pending ones (pendingFeatures in e2e/conformance), 0 failed and 0
# skipped. Needs root. Environment: AGW_CONFORMANCE_PROFILES
# (default all five Gateway profiles; e.g. GATEWAY-HTTP alone) and the other
# AGW_CONFORMANCE_* knobs documented in e2e/conformance/conformance_test.go;
# AGW_CONFORMANCE_TIMEOUT (go test -timeout, default 60m); AGW_CONFORMANCE_SKIP_SETUP=1 reuses
# an already running cluster. The cluster is left running: `make down` removes it.
#
# The local cluster is one per machine and shared with the e2e tests, so the script holds an
# exclusive lock on <cache>/cluster.lock (as the e2e test binaries do) from before it brings
# the cluster up until the suite ends; it waits while another holder runs.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { echo "conformance: $* ($(date -u +%H:%M:%S))"; }

command -v flock >/dev/null || {
  echo "conformance: flock (util-linux) is needed to share the local cluster with the e2e tests"
  exit 1
}
cache=${AGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go}
mkdir -p "$cache"
# fd 9 holds the lock until this shell exits. Commands that may leave processes behind (the
# cluster's daemons) run with fd 9 closed, so the lock goes away with the script.
exec 9>>"$cache/cluster.lock"
if ! flock -n 9; then
  step "waiting for the local cluster's other user to finish ($cache/cluster.lock)"
  flock 9
fi

if [ "${AGW_CONFORMANCE_SKIP_SETUP:-0}" != 1 ]; then
  step "local cluster, CRDs, operator (hack/run-demo.sh)"
  hack/run-demo.sh 9>&-
fi
KUBECONFIG=$(hack/local-cluster.sh kubeconfig 9>&-)
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
if [ "$rc" = 0 ] && [ "$report" -ef "$root/e2e/conformance-report.yaml" ]; then
  step "README.md conformance tables from the report (hack/conformancetable)"
  go run ./hack/conformancetable -report "$report" -readme README.md
fi
exit $rc
