#!/usr/bin/env bash
# bench-control-plane.sh (make bench-control-plane): the route-lifecycle benchmark of the
# control plane, modeled on the public gateway-api-bench probe. The driver is
# hack/bench/routes (see its doc comment for the steps); this script finds or starts a
# cluster, runs it, and removes the benchmark's namespace afterwards.
#
# It reuses a running local cluster (it must have agentgateway-go installed, as `make run`
# does); only when none answers does it start one with hack/run-demo.sh (which leaves it
# running; `make down` stops it).
#
# The last line is machine-readable:
#   bench-control-plane: propagation_p99_ms=<ms> flip_errors=<n> setup_s=<s> teardown_s=<s>
# Targets: propagation p99 <= 30 ms, 0 flip errors, setup <= 1 s, teardown <= 2 s.
#
# Environment (all optional):
#   BENCH_ROUTES=1000          routes added one at a time, then created at once
#   BENCH_FLIPS=1000           backend flips of one route under traffic
#   BENCH_CREATE_WORKERS=16    concurrent creates in the bulk setup step
#   BENCH_NAMESPACE=agw-bench  namespace of every object the benchmark makes
#   BENCH_TIMEOUT=45m          bound on the driver's run
#   BENCH_ROUTE_TIMEOUT=30s    bound on one route's propagation or one flip
#   BENCH_PROBE_INTERVAL=1ms   least time between two propagation probes of a route
#                              (0: back to back; gateway-api-bench waits 5 ms after a 404)
#   BENCH_KEEP=1               keep the namespace afterwards (for inspection)
#   KUBECONFIG                 default: the local cluster's (hack/local-cluster.sh kubeconfig)
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { echo "bench-control-plane: $*" >&2; }

NS=${BENCH_NAMESPACE:-agw-bench}
case "$NS" in
'' | default | kube-* | agentgateway-system | demo | gateway-conformance-*)
	log "BENCH_NAMESPACE=$NS: use a namespace of the benchmark's own (it is deleted afterwards)"
	exit 2
	;;
esac

if [ -z "${KUBECONFIG:-}" ]; then
	KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
fi
export KUBECONFIG

if [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1; then
	log "reusing the running cluster ($KUBECONFIG)"
	if ! kubectl get gatewayclass "${BENCH_GATEWAY_CLASS:-agentgateway}" >/dev/null 2>&1; then
		log "the running cluster has no GatewayClass ${BENCH_GATEWAY_CLASS:-agentgateway}: install agentgateway-go (hack/run-demo.sh does) and retry"
		exit 1
	fi
else
	log "no cluster answers; starting one with hack/run-demo.sh (it stays up; make down stops it)"
	hack/run-demo.sh >&2
	KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
	export KUBECONFIG
fi

work=$(mktemp -d /tmp/agw-bench-cp.XXXXXX)
cleanup() {
	if [ -z "${BENCH_KEEP:-}" ] && kubectl get namespace "$NS" >/dev/null 2>&1; then
		log "deleting namespace $NS"
		kubectl delete namespace "$NS" --wait=true --timeout=180s >/dev/null 2>&1 ||
			log "namespace $NS is still terminating; it goes away on its own"
	elif [ -n "${BENCH_KEEP:-}" ]; then
		log "keeping namespace $NS (BENCH_KEEP is set)"
	fi
}
trap 'cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (results from a busy machine are noisy)"
log "building the driver (hack/bench/routes)"
go build -o "$work/routes" ./hack/bench/routes
# Progress goes to stderr as it happens; the report (stdout) is printed after the cleanup,
# so that its machine-readable line is the last line of the output.
rc=0
"$work/routes" >"$work/report" || rc=$?
cleanup
trap 'rm -rf "$work"' EXIT
cat "$work/report"
exit "$rc"
