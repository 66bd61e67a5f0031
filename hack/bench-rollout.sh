#!/usr/bin/env bash
# bench-rollout.sh (make bench-rollout): the zero-downtime benchmark on the local cluster.
# The driver is hack/bench/rollout (see its doc comment for the steps): under steady
# keep-alive traffic it rolls the echo backend Deployment, then the Gateway's proxy
# Deployment, then changes the HTTPRoute N times, and counts each phase's answers.
#
# The local cluster is one per machine and shared with the e2e tests, so the script holds
# an exclusive lock on <cache>/cluster.lock (as the e2e test binaries do) from before it
# looks for a cluster until after it took down the one it started; it waits while another
# holder runs. A cluster that already answers (with agentgateway-go installed) is used and
# left up; otherwise hack/run-demo.sh starts one, and `hack/local-cluster.sh down` stops it
# at the end (BENCH_KEEP_CLUSTER=1 leaves it up).
#
# Output (the counts are results, not failures: the exit status is non-zero only when the
# benchmark could not run):
#   bench-rollout: phase=<backend|proxy|routes> requests=<n> non2xx=<n> errors=<n>
#   bench-rollout: requests=<n> non2xx=<n> errors=<n>          (last line)
# Target: 0 non2xx and 0 errors in every phase.
#
# Environment (all optional):
#   BENCH_CLIENTS=8            concurrent keep-alive clients
#   BENCH_INTERVAL=10ms        least time between two requests of one client
#   BENCH_CHANGES=30           route changes in the routes phase
#   BENCH_SETTLE=5s            traffic kept after each phase's rollout or last change
#   BENCH_NAMESPACE=agw-rollout namespace of every object the benchmark makes (deleted after)
#   BENCH_TIMEOUT=20m          bound on the driver's run
#   BENCH_STEP_TIMEOUT=5m      bound on one rollout or one route change
#   BENCH_KEEP=1               keep the namespace afterwards (for inspection)
#   BENCH_KEEP_CLUSTER=1       leave a cluster this script started running
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { echo "bench-rollout: $*" >&2; }

NS=${BENCH_NAMESPACE:-agw-rollout}
case "$NS" in
'' | default | kube-* | agentgateway-system | demo | gateway-conformance-*)
	log "BENCH_NAMESPACE=$NS: use a namespace of the benchmark's own (it is deleted afterwards)"
	exit 2
	;;
esac
command -v flock >/dev/null || {
	log "flock (util-linux) is needed to share the local cluster with the e2e tests"
	exit 1
}

cache=${AGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go}
mkdir -p "$cache"
lock="$cache/cluster.lock"
# fd 9 holds the lock until this shell exits. Commands that may leave processes behind
# (the cluster's daemons) run with fd 9 closed, so the lock goes away with the script.
exec 9>>"$lock"
if ! flock -n 9; then
	log "waiting for the local cluster's other user to finish ($lock)"
	flock 9
fi
log "holding $lock"

KUBECONFIG=$(hack/local-cluster.sh kubeconfig 9>&-)
export KUBECONFIG
started=
if [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1; then
	log "reusing the running cluster ($KUBECONFIG); it stays up"
	if ! kubectl get gatewayclass "${BENCH_GATEWAY_CLASS:-agentgateway}" >/dev/null 2>&1; then
		log "the running cluster has no GatewayClass ${BENCH_GATEWAY_CLASS:-agentgateway}: install agentgateway-go (hack/run-demo.sh does) and retry"
		exit 1
	fi
else
	log "no cluster answers; starting one with hack/run-demo.sh"
	started=1
fi

work=$(mktemp -d /tmp/agw-bench-rollout.XXXXXX)
# will_down: the cluster goes away at the end (it was started here and is not kept), so
# its namespace need not be deleted first.
will_down() { [ -n "$started" ] && [ -z "${BENCH_KEEP_CLUSTER:-}" ] && [ -z "${BENCH_KEEP:-}" ]; }
cleanup_ns() {
	if ! will_down && [ -z "${BENCH_KEEP:-}" ] && kubectl get namespace "$NS" >/dev/null 2>&1; then
		log "deleting namespace $NS"
		kubectl delete namespace "$NS" --wait=true --timeout=180s >/dev/null 2>&1 ||
			log "namespace $NS is still terminating; it goes away on its own"
	elif [ -n "${BENCH_KEEP:-}" ]; then
		log "keeping namespace $NS (BENCH_KEEP is set)"
	fi
}
down() {
	if will_down; then
		log "taking down the cluster this script started"
		hack/local-cluster.sh down 9>&- >&2 || log "hack/local-cluster.sh down failed"
		started=
	elif [ -n "$started" ]; then
		log "leaving the cluster up (make down stops it)"
	fi
}
trap 'cleanup_ns; down; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

if [ -n "$started" ]; then
	hack/run-demo.sh 9>&- >&2
	KUBECONFIG=$(hack/local-cluster.sh kubeconfig 9>&-)
	export KUBECONFIG
fi

log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
log "building the driver (hack/bench/rollout)"
go build -o "$work/rollout" ./hack/bench/rollout
# Progress goes to stderr as it happens; the report (stdout) is printed after the cleanup,
# so that its summary is the last line of the output.
rc=0
"$work/rollout" >"$work/report" 9>&- || rc=$?
cleanup_ns
down
trap 'rm -rf "$work"' EXIT
cat "$work/report"
exit "$rc"
