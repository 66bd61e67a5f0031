#!/usr/bin/env bash
# ratelimit-service.sh builds (or reuses) the Envoy rate-limit service (github.com/envoyproxy/ratelimit,
# the reference server of envoy.service.ratelimit.v3.RateLimitService) from the Go module proxy and
# prints the path of its binary. The global rate-limit tests of proxy/ratelimit run it on Redis.
#
#   hack/ratelimit-service.sh               build if needed, print the binary path
#   hack/ratelimit-service.sh --print-path  print the binary path, build nothing
#
# The build runs in a temporary directory with its own go.mod (nothing of this repository's
# go.mod is involved); the binary is cached in $AGW_CACHE_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go) under ratelimit/<version>/, so a second run
# costs nothing. Progress goes to stderr; stdout has only the path.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

# The module has no tagged release newer than v1.4.0 (2019); this is its main branch of January 2026.
RATELIMIT_VERSION=v1.4.1-0.20260122083618-3fb702589d36
cache=${AGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go}
dir="$cache/ratelimit/$RATELIMIT_VERSION"
bin="$dir/ratelimit"

if [ "${1:-}" = "--print-path" ]; then echo "$bin"; exit 0; fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

log() { echo "ratelimit-service: $*" >&2; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "building github.com/envoyproxy/ratelimit $RATELIMIT_VERSION (first time only, about 2 minutes on 2 cores)..."
(
  cd "$tmp"
  export GOFLAGS=-mod=mod GOWORK=off
  go mod init agentgateway.local/ratelimit-build >/dev/null 2>&1
  go get "github.com/envoyproxy/ratelimit@$RATELIMIT_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$dir/.ratelimit.$$" github.com/envoyproxy/ratelimit/src/service_cmd
)
mv "$dir/.ratelimit.$$" "$bin"
log "built in $(( $(date +%s) - start ))s"
echo "$bin"
