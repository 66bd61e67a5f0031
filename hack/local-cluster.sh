#!/usr/bin/env bash
# local-cluster.sh drives the local Kubernetes cluster (no Docker): it builds the localcluster
# CLI from e2e/cmd/localcluster and runs it.
#
#   hack/local-cluster.sh up|down|status|kubeconfig
#
# Needs root (bridge, network namespaces, iptables). State: $AGW_CLUSTER_DIR, default
# ${XDG_CACHE_HOME:-~/.cache}/agentgateway-go/cluster. `kubeconfig` prints only the path, so
# `export KUBECONFIG=$(hack/local-cluster.sh kubeconfig)` works.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go}
bin="$cache/bin/localcluster-cli"
mkdir -p "$(dirname "$bin")"
(cd "$root" && go build -o "$bin" ./e2e/cmd/localcluster)
cmd=${1:-}
[ "$cmd" = up ] && "$root/hack/install-deps.sh"
[ $# -gt 0 ] && shift
exec "$bin" "$cmd" --repo-root "$root" "$@"
