#!/usr/bin/env bash
# lint.sh builds (or reuses) the pinned golangci-lint and runs it on the root module with the
# root .golangci.yml.
#
#   hack/lint.sh                 lint ./... (what make lint and make verify run)
#   hack/lint.sh [args ...]      arguments go to `golangci-lint run`, e.g. hack/lint.sh ./proxy/...
#   hack/lint.sh --print-bin     build if needed and print the binary's path only
#
# The version is the one required by hack/tools/lint/go.mod, built from the Go module proxy with
# that module's go.sum. The binary is cached in $AGW_CACHE_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go) under lint/<version>-<go version>/, so it is built once;
# the linter's own analysis cache lives beside it unless GOLANGCI_LINT_CACHE is set.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/tools/lint"
version=$(awk '$1=="require" && $2=="github.com/golangci/golangci-lint/v2" {print $3}' "$mod/go.mod")
if [ -z "$version" ]; then echo "lint: no golangci-lint requirement in $mod/go.mod" >&2; exit 2; fi
cache=${AGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgateway-go}
# The binary must be built by a Go at least as new as go.mod's, so the cache key names the toolchain.
dir="$cache/lint/$version-$(cd "$mod" && go env GOVERSION)"
bin="$dir/golangci-lint"

if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo "lint: building golangci-lint $version (first time only)..." >&2
  start=$(date +%s)
  (cd "$mod" && go build -trimpath -ldflags "-s -w -X main.version=${version#v}" \
    -o "$dir/.golangci-lint.tmp" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
  mv "$dir/.golangci-lint.tmp" "$bin"
  echo "lint: built golangci-lint $version in $(( $(date +%s) - start ))s" >&2
fi

if [ "${1:-}" = "--print-bin" ]; then echo "$bin"; exit 0; fi

cd "$root"
export GOLANGCI_LINT_CACHE=${GOLANGCI_LINT_CACHE:-$dir/cache}
exec "$bin" run "$@"
