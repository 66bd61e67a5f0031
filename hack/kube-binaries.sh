#!/usr/bin/env bash
# kube-binaries.sh builds (or reuses) the pinned Kubernetes control-plane binaries and etcd
# from the Go module proxy, and prints the directory that holds them.
#
#   hack/kube-binaries.sh --print-dir        print the cache directory, build nothing
#   hack/kube-binaries.sh [component ...]   components: etcd kube-apiserver kube-controller-manager
#                                           kube-scheduler kube-proxy (default: all)
#
# Binaries are cached in $AGW_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go)
# under kube/<version>/bin, so a second run costs nothing. Progress goes to stderr; the only
# line on stdout is the binary directory, so callers can do KUBEBUILDER_ASSETS=$(hack/kube-binaries.sh).
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

KUBE_VERSION=v1.37.2
ETCD_VERSION=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3" {print $3}' "$(dirname "$0")/tools/etcd/go.mod")
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go}
bin="$cache/kube/$KUBE_VERSION-etcd$ETCD_VERSION/bin"
mkdir -p "$bin"

if [ "${1:-}" = "--print-dir" ]; then echo "$bin"; exit 0; fi

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean"

log() { echo "kube-binaries: $*" >&2; }

for c in "${components[@]}"; do
  if [ -x "$bin/$c" ]; then continue; fi
  start=$(date +%s)
  case "$c" in
    etcd)
      log "building etcd $ETCD_VERSION (first time only, about 2 minutes on 2 cores)..."
      (cd "$root/hack/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin/.etcd.tmp" .)
      ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy)
      log "building $c $KUBE_VERSION (first time only; the first Kubernetes binary takes about 8-10 minutes on 2 cores, later ones 1-3)..."
      (cd "$root/hack/tools/kube" && go build -trimpath -ldflags "$ldflags" -o "$bin/.$c.tmp" "k8s.io/kubernetes/cmd/$c")
      ;;
    *) log "unknown component $c"; exit 2 ;;
  esac
  mv "$bin/.$c.tmp" "$bin/$c"
  log "built $c in $(( $(date +%s) - start ))s"
done
echo "$bin"
